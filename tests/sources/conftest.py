from tests.sources.fake_services import fake_services

__all__ = ["fake_services"]
