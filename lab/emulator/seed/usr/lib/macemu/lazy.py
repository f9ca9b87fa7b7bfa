"""Deferred imports for the emulator: `cryptography` costs 50-90 ms per process on a node, and most
emulated calls (list-keychains, default-keychain, show-keychain-info, lock-keychain, ...) never use it.

    x509 = lazy.module("cryptography.x509")                                   # a module
    AESGCM = lazy.attr("cryptography.hazmat.primitives.ciphers.aead", "AESGCM")  # a name in one

The placeholder imports the real thing at its first attribute access or call and then forwards to
it, so call sites read exactly as with a plain import (`x509.load_der_x509_certificate(...)`,
`AESGCM(key)`, `NameOID.COMMON_NAME`, `isinstance(k, rsa.RSAPrivateKey)`,
`except x509.ExtensionNotFound`). It is not the class itself: do not use a placeholder of a class
directly in `except` or `isinstance`; import those eagerly. Only the import structure changes, never
what a command prints.
"""

import importlib


class _Lazy(object):
    __slots__ = ("_module", "_attr", "_target")

    def __init__(self, module_name, attr=None):
        object.__setattr__(self, "_module", module_name)
        object.__setattr__(self, "_attr", attr)
        object.__setattr__(self, "_target", None)

    def _load(self):
        target = object.__getattribute__(self, "_target")
        if target is None:
            target = importlib.import_module(object.__getattribute__(self, "_module"))
            attr = object.__getattribute__(self, "_attr")
            if attr is not None:
                target = getattr(target, attr)
            object.__setattr__(self, "_target", target)
        return target

    def __getattr__(self, name):
        return getattr(self._load(), name)

    def __call__(self, *args, **kwargs):
        return self._load()(*args, **kwargs)

    def __repr__(self):
        return "<lazy %s%s>" % (object.__getattribute__(self, "_module"),
                                ("." + object.__getattribute__(self, "_attr"))
                                if object.__getattribute__(self, "_attr") else "")


def module(name):
    return _Lazy(name)


def attr(module_name, name):
    return _Lazy(module_name, name)
