"""Zoobot encoders (galaxy-trained timm models on the Hugging Face hub): `zoobot:<name>`.

Why huggingface_hub here and not our own downloader (download.py): the weights live in the
standard hub cache (HF_HOME), so a user who already has Zoobot cached reuses it, HF_HUB_OFFLINE
works as everywhere else, and the hub's cache layout names every LFS blob by its SHA-256, which
gives us the checksum to verify without trusting a second source. Progress reaches the app
through hf_hub_download's `tqdm_class` hook.

The network is built by timm from the repo's config.json (`architecture`, `model_args`,
`pretrained_cfg`) with `pretrained=False`, and the weights are loaded by us after the checksum,
so timm itself never touches the network. model_id names the weights' digest
(`zoobot:<name>@<sha256[:12]>`): two revisions of an encoder never share an index.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrolens.domain.backbones import ZOOBOT_CITATION, ZOOBOT_HUB_OWNER, zoobot_backbone
from astrolens.ml.embedders.base import TTA, Precision, TorchEmbedder
from astrolens.ml.embedders.download import ProgressCallback, offline_requested
from astrolens.ml.embedders.errors import (
    CorruptCheckpointError,
    ModelUnavailableError,
    UnknownEmbedderError,
)
from astrolens.ml.embedders.torch_runtime import torch_module

if TYPE_CHECKING:
    import torch

CONFIG_FILE = "config.json"
README_FILE = "README.md"
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")  # timm's preference order
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,80}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# Feature width per published architecture, so `dim` is known before the download.
_KNOWN_DIMS = {
    "convnext_pico": 512,
    "convnext_nano": 640,
    "convnext_base": 1024,
    "efficientnet_b0": 1280,
}


def hub_repo(name: str) -> str:
    if not _NAME.match(name):
        raise UnknownEmbedderError(f"zoobot:{name}: not a Zoobot encoder name")
    backbone = zoobot_backbone(name)
    return backbone.hub_repo if backbone else f"{ZOOBOT_HUB_OWNER}/zoobot-encoder-{name}"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_blob(path: Path) -> str:
    """The hub cache stores an LFS file as blobs/<its SHA-256>: check the bytes against it."""
    blob = Path(os.path.realpath(path))
    actual = file_sha256(blob)
    if _SHA256.match(blob.name) and blob.name != actual:
        raise CorruptCheckpointError(
            f"{path.name} in the Hugging Face cache is damaged (SHA-256 {actual[:12]}…, "
            f"expected {blob.name[:12]}…): delete {blob} and connect to download it again"
        )
    return actual


def licence_from_card(readme: str) -> str | None:
    """`license: apache-2.0` from a model card's YAML front matter."""
    match = re.search(r"^---\s*$(.*?)^---\s*$", readme, flags=re.M | re.S)
    if not match:
        return None
    found = re.search(r"^license:\s*([^\s#]+)", match.group(1), flags=re.M)
    return found.group(1) if found else None


def _progress_tqdm(progress: ProgressCallback) -> Any:
    """A tqdm class that forwards hf_hub_download's byte counts to our callback."""
    from tqdm.auto import tqdm

    class _Forward(tqdm):  # type: ignore[misc, valid-type]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True  # no terminal bar: the app draws its own
            super().__init__(*args, **kwargs)
            self._done = 0

        def update(self, n: float | None = 1) -> bool | None:
            self._done += int(n or 0)
            progress(self._done, int(self.total) if self.total else None)
            return super().update(n)

    return _Forward


class ZoobotEmbedder(TorchEmbedder):
    """Pooled features of a Zoobot encoder, L2-normalised like every other backbone."""

    def __init__(
        self,
        name: str,
        *,
        progress: ProgressCallback | None = None,
        offline: bool | None = None,
        precision: Precision = "fp32",
        tta: TTA = "none",
        batch_size: int = 32,
        cache_dir: Path | None = None,
        endpoint: str | None = None,
    ) -> None:
        self.name = name
        self._endpoint = endpoint  # None: the hub (HF_ENDPOINT); tests point it at 127.0.0.1
        self.repo = hub_repo(name)
        self._progress = progress
        self._offline = offline
        self._cache_dir = cache_dir  # None: the standard hub cache (HF_HOME)
        self._network: Any = None
        self._greyscale = False
        self.licence: str | None = None
        self.citation = ZOOBOT_CITATION
        arch = name.removeprefix("greyscale-")
        cached = self._cached_digest()
        super().__init__(
            # The weights' digest names the vectors. Known before load when the weights are
            # cached (the blob's name); otherwise added when load() has downloaded them.
            base_model_id=f"zoobot:{name}" + (f"@{cached[:12]}" if cached else ""),
            dim=_KNOWN_DIMS.get(arch, 0),
            input_size=224,
            mean=(0.0, 0.0, 0.0),
            std=(1.0, 1.0, 1.0),
            precision=precision,
            tta=tta,
            batch_size=batch_size,
        )

    # -- files -----------------------------------------------------------------------------
    def _cached_digest(self) -> str | None:
        """The SHA-256 the hub cache names the weights by, without any network access."""
        from huggingface_hub import try_to_load_from_cache

        for filename in WEIGHT_FILES:
            found = try_to_load_from_cache(self.repo, filename, cache_dir=self._cache_dir)
            if isinstance(found, str):
                blob = Path(os.path.realpath(found)).name
                return blob if _SHA256.match(blob) else None
        return None

    def _fetch(self, filename: str, *, required: bool = True) -> Path | None:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError, LocalEntryNotFoundError

        offline = self._offline if self._offline is not None else offline_requested()
        try:
            path = hf_hub_download(
                self.repo,
                filename,
                cache_dir=self._cache_dir,
                local_files_only=offline,
                tqdm_class=_progress_tqdm(self._progress) if self._progress else None,
                etag_timeout=10,
                endpoint=self._endpoint,
            )
        except LocalEntryNotFoundError as exc:  # a subclass of EntryNotFoundError: first
            if not required:
                return None
            raise ModelUnavailableError(
                f"zoobot:{self.name} is not in the local Hugging Face cache and "
                + (
                    "downloads are off (HF_HUB_OFFLINE): connect once to download it"
                    if offline
                    else f"the hub could not be reached: {exc}"
                )
            ) from exc
        except EntryNotFoundError:
            if required:
                raise
            return None
        except OSError as exc:  # requests/httpx errors subclass OSError in huggingface_hub
            if not required:
                return None
            raise ModelUnavailableError(f"cannot download zoobot:{self.name}: {exc}") from exc
        return Path(str(path))

    def weights_path(self) -> Path:
        for filename in WEIGHT_FILES:
            try:
                path = self._fetch(filename, required=False)
            except Exception:  # EntryNotFoundError: the repo publishes the other format
                path = None
            if path is not None:
                return path
        raise ModelUnavailableError(
            f"zoobot:{self.name}: no weights ({' or '.join(WEIGHT_FILES)}) in {self.repo} "
            "or in the local cache"
        )

    # -- the network -----------------------------------------------------------------------
    def load(self) -> None:
        if self._network is not None:
            return
        config_path = self._fetch(CONFIG_FILE)
        assert config_path is not None
        try:
            config = json.loads(config_path.read_text())
            arch = str(config["architecture"])
        except (OSError, ValueError, KeyError) as exc:
            raise CorruptCheckpointError(f"{config_path}: not a timm config: {exc}") from exc
        weights = self.weights_path()
        digest = verify_blob(weights)
        readme = self._fetch(README_FILE, required=False)
        self.licence = licence_from_card(readme.read_text()) if readme else None

        cfg = dict(config.get("pretrained_cfg") or {})
        model_args = dict(config.get("model_args") or {})
        input_size = cfg.get("input_size") or [3, 224, 224]
        in_chans = int(model_args.get("in_chans", input_size[0]))
        model_args["in_chans"] = in_chans
        network = self._build(arch, model_args, weights)
        self._greyscale = in_chans == 1
        self._input_size = int(input_size[-1])
        self._mean = _per_channel(cfg.get("mean"), (0.0, 0.0, 0.0))
        self._std = _per_channel(cfg.get("std"), (1.0, 1.0, 1.0))
        self._dim = int(network.num_features)
        if f"@{digest[:12]}" not in self._model_id:
            self._model_id = self._model_id.replace(
                f"zoobot:{self.name}", f"zoobot:{self.name}@{digest[:12]}", 1
            )
        torch = torch_module()
        self._network = network.eval().to(memory_format=torch.channels_last)

    def _build(self, arch: str, model_args: dict[str, Any], weights: Path) -> Any:
        torch_module()  # thread set-up before timm pulls torch in
        try:
            import timm
        except ImportError as exc:
            raise ModelUnavailableError("Zoobot encoders need timm (pip install timm)") from exc
        try:
            network = timm.create_model(arch, pretrained=False, num_classes=0, **model_args)
        except Exception as exc:
            raise CorruptCheckpointError(
                f"zoobot:{self.name}: timm cannot build {arch!r}: {exc}"
            ) from exc
        state = _read_state(weights)
        own = network.state_dict()
        # The encoders ship without a head, or with one we drop (num_classes=0): every key the
        # network has must be there, keys it lacks may only be a classifier's.
        missing = [k for k in own if k not in state]
        if missing:
            raise CorruptCheckpointError(
                f"zoobot:{self.name}: {weights.name} lacks {len(missing)} tensors of {arch} "
                f"(first: {missing[0]})"
            )
        try:
            network.load_state_dict({k: v for k, v in state.items() if k in own}, strict=True)
        except RuntimeError as exc:
            raise CorruptCheckpointError(f"zoobot:{self.name}: {exc}") from exc
        return network

    def _network_forward(self, batch: torch.Tensor) -> tuple[torch.Tensor, None]:
        if self._greyscale:
            batch = batch.mean(dim=1, keepdim=True)
        return self._network(batch), None


def _per_channel(value: Any, default: tuple[float, ...]) -> tuple[float, ...]:
    if value is None:
        return default
    values = tuple(float(v) for v in (value if isinstance(value, list | tuple) else [value]))
    return values * 3 if len(values) == 1 else values


def _read_state(path: Path) -> dict[str, Any]:
    try:
        if path.name.endswith(".safetensors"):
            from safetensors.torch import load_file

            return dict(load_file(str(path)))
        torch = torch_module()
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise CorruptCheckpointError(f"cannot read {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise CorruptCheckpointError(f"{path} does not hold a state dict")
    return state
