"""Test-only: SIGKILL this process at a chosen moment, to test what a crash leaves behind.

A subprocess started with this folder on PYTHONPATH and `FRAMESEARCH_TEST_CRASH=module:Qualified.name:N[:before]`
kills itself with SIGKILL right after (or just before) the N-th call of that function or method; in a
multiprocessing child (the service's store process) it kills its parent too, as a crash of the whole service
would. Nothing in the product knows about it: the function is wrapped here, at interpreter start.
"""

import os

SPEC = os.environ.get("FRAMESEARCH_TEST_CRASH")


def _install(spec: str) -> None:
    import functools
    import importlib
    import signal
    import sys

    module, qualname, count, *when = spec.split(":")
    before = when == ["before"]
    owner = importlib.import_module(module)
    *path, name = qualname.split(".")
    for part in path:
        owner = getattr(owner, part)
    if isinstance(owner, type):  # the raw attribute (a staticmethod stays one), wherever in the MRO it is defined
        original = next(klass.__dict__[name] for klass in owner.__mro__ if name in klass.__dict__)
    else:
        original = getattr(owner, name)
    calls = 0

    def die() -> None:
        sys.stderr.write(f"crashpoint: SIGKILL at {spec}\n")
        sys.stderr.flush()
        import multiprocessing

        parent = multiprocessing.parent_process()  # the service, when this is its store process: both die at once
        if parent is not None:
            os.kill(parent.pid, signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == int(count) and before:
            die()
        result = original(*args, **kwargs)
        if calls == int(count):
            die()
        return result

    setattr(owner, name, wrapper)


if SPEC:
    _install(SPEC)
