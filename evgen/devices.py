"""Which torch device to sample on: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``."""

from __future__ import annotations

from evgen.errors import ConfigError

__all__ = ["DEVICE_CHOICES", "resolve_device_name"]

#: What ``--device`` accepts (besides ``cuda:N``).
DEVICE_CHOICES = ("cpu", "cuda", "auto")


def resolve_device_name(device: str | None) -> str:
    """The device to use for ``device``: ``auto`` (or ``None``: the CPU) picks CUDA when present.

    Asking for CUDA on a machine without it fails with a clear message instead of a
    torch traceback.
    """
    name = "cpu" if device is None else str(device).strip().lower()
    if name == "cpu":
        return "cpu"
    if name != "auto" and name != "cuda" and not (name.startswith("cuda:") and name[5:].isdigit()):
        raise ConfigError(f"--device {device!r}: expected cpu, cuda, cuda:N or auto")
    import torch

    available = torch.cuda.is_available()
    if name == "auto":
        return "cuda" if available else "cpu"
    if not available:
        raise ConfigError(
            f"--device {device}: CUDA is not available here (torch {torch.__version__}); "
            "use --device cpu or --device auto"
        )
    if ":" in name and int(name[5:]) >= torch.cuda.device_count():
        raise ConfigError(f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s)")
    return name
