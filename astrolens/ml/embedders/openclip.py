"""open_clip image towers: `openclip:<arch>/<pretrained tag or local file>`.

A local file is a state dict that open_clip loads itself (`pretrained=<path>`). A known tag
(e.g. `ViT-B-32/laion2b_s34b_b79k`) is downloaded once into models_dir by our own downloader
(progress, SHA-256, atomic write, fail-fast offline) and then handed to open_clip as a file, so
open_clip itself never touches the network.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrolens.ml.embedders.base import TTA, Precision, TorchEmbedder
from astrolens.ml.embedders.download import ProgressCallback, RemoteFile, download
from astrolens.ml.embedders.errors import (
    CorruptCheckpointError,
    ModelUnavailableError,
    UnknownEmbedderError,
)
from astrolens.ml.embedders.torch_runtime import torch_module

if TYPE_CHECKING:
    import torch

HF_BASE_URL = "https://huggingface.co"
HF_DEFAULT_WEIGHTS = "open_clip_pytorch_model.bin"


def _open_clip() -> Any:
    torch_module()  # thread set-up before open_clip pulls torch in
    try:
        import open_clip
    except ImportError as exc:
        raise ModelUnavailableError(
            "open_clip is not available in this build: install open-clip-torch from source"
        ) from exc

    return open_clip


def resolve_tag(arch: str, tag: str, *, hf_base_url: str = HF_BASE_URL) -> RemoteFile | None:
    """Where open_clip publishes the weights for `arch`/`tag`; None if it is not a known tag.

    The Hugging Face copy is preferred: it is a plain state dict whose SHA-256 the hub reports.
    OpenAI's own URLs serve TorchScript archives, which open_clip cannot load as a state dict.
    """
    cfg = _open_clip().get_pretrained_cfg(arch, tag)
    if not cfg:
        return None
    safe_name = f"{arch}--{tag}".replace("/", "_")
    if cfg.get("hf_hub"):
        repo, filename = (
            cfg["hf_hub"].rsplit("/", 1) if "/" in cfg["hf_hub"] else (cfg["hf_hub"], "")
        )
        filename = filename or HF_DEFAULT_WEIGHTS
        return RemoteFile(
            url=f"{hf_base_url}/{repo}/resolve/main/{filename}",
            filename=f"{safe_name}--{filename}",
        )
    url = cfg.get("url", "")
    if url and "openaipublic" not in url:
        # mlfoundations release files end in -<sha256 prefix>.pt, as open_clip itself checks.
        stem = url.rsplit("/", 1)[-1].rsplit(".", 1)[0]
        prefix = stem.rsplit("-", 1)[-1] if "mlfoundations" in url else None
        return RemoteFile(url=url, filename=f"{safe_name}--{url.rsplit('/', 1)[-1]}", sha256=prefix)
    return None


def _file_sha256(path: Path) -> str:
    sidecar = path.with_name(path.name + ".sha256")
    if sidecar.is_file():  # written by our downloader after verifying the file
        return sidecar.read_text().strip()
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class OpenClipEmbedder(TorchEmbedder):
    """The image encoder of an open_clip model; embedding = `encode_image`, L2-normalised.

    model_id: `openclip:<arch>/<tag>` for a published tag (tags are immutable), or
    `openclip:<arch>/file@<sha256[:12]>` for a local file, so that two different files with
    the same name never share an index.
    """

    def __init__(
        self,
        arch: str,
        pretrained: str,
        *,
        models_dir: Path,
        progress: ProgressCallback | None = None,
        offline: bool | None = None,
        precision: Precision = "fp32",
        tta: TTA = "none",
        batch_size: int = 32,
        hf_base_url: str = HF_BASE_URL,
    ) -> None:
        open_clip = _open_clip()
        model_cfg = open_clip.get_model_config(arch)
        if model_cfg is None:
            raise UnknownEmbedderError(
                f"open_clip has no architecture {arch!r}; see open_clip.list_models()"
            )
        self.arch = arch
        self._models_dir = models_dir
        self._progress = progress
        self._offline = offline
        self._network: Any = None
        self._remote = resolve_tag(arch, pretrained, hf_base_url=hf_base_url)
        self._tag_cfg: dict[str, Any] = open_clip.get_pretrained_cfg(arch, pretrained) or {}
        if self._remote is not None:
            self._local_file: Path | None = None
            weights_id = pretrained
        else:
            local = Path(pretrained).expanduser()
            if not local.is_file():
                known = open_clip.list_pretrained_tags_by_model(arch)
                raise UnknownEmbedderError(
                    f"{pretrained!r} is neither a downloadable open_clip tag for {arch} "
                    f"({', '.join(known) or 'none known'}) nor an existing file"
                )
            self._local_file = local
            weights_id = f"file@{_file_sha256(local)[:12]}"
        image_size = model_cfg["vision_cfg"].get("image_size", 224)
        super().__init__(
            base_model_id=f"openclip:{arch}/{weights_id}",
            dim=int(model_cfg["embed_dim"]),
            input_size=int(image_size if isinstance(image_size, int) else image_size[0]),
            mean=open_clip.OPENAI_DATASET_MEAN,
            std=open_clip.OPENAI_DATASET_STD,
            precision=precision,
            tta=tta,
            batch_size=batch_size,
        )

    def weights_path(self) -> Path:
        """The local weights file, downloading a published tag first if needed."""
        if self._local_file is not None:
            return self._local_file
        assert self._remote is not None
        return download(
            self._remote, self._models_dir, progress=self._progress, offline=self._offline
        )

    def load(self) -> None:
        if self._network is not None:
            return
        open_clip = _open_clip()
        path = self.weights_path()
        try:
            model, _, _ = open_clip.create_model_and_transforms(
                self.arch,
                pretrained=str(path),
                force_quick_gelu=bool(self._tag_cfg.get("quick_gelu", False)),
            )
        except (ModelUnavailableError, CorruptCheckpointError):
            raise
        except Exception as exc:
            raise CorruptCheckpointError(
                f"cannot load open_clip weights {path} into {self.arch}: "
                f"{exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            ) from exc
        # Take size and normalisation from open_clip's own resolution of config + tag.
        preprocess = open_clip.get_model_preprocess_cfg(model)
        preprocess.update({k: self._tag_cfg[k] for k in ("mean", "std") if k in self._tag_cfg})
        size = preprocess.get("size", self._input_size)
        self._input_size = int(size if isinstance(size, int) else size[0])
        self._mean = tuple(preprocess.get("mean", self._mean))
        self._std = tuple(preprocess.get("std", self._std))
        model.eval()
        # The text tower is never used: drop it to save memory (about half of a CLIP model).
        for name in ("transformer", "token_embedding", "ln_final", "text"):
            if hasattr(model, name):
                setattr(model, name, None)
        torch = torch_module()
        self._network = model.to(memory_format=torch.channels_last)

    def _network_forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, None]:
        return self._network.encode_image(batch), None
