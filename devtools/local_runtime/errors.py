"""Errors of the local runtime."""


class LocalRuntimeError(Exception):
    """Base class."""


class DeploymentError(LocalRuntimeError):
    """The template could not be deployed to moto."""


class MotoIncompatibleError(LocalRuntimeError):
    """The installed moto no longer has the internals the runtime hooks into (see moto_hooks.py)."""
