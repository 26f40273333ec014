"""papermill support for notebooks run by the tslab kernels (TypeScript, JavaScript).

papermill injects parameters (``papermill in.ipynb out.ipynb -p profileName quick``) by writing a new
cell after the cell tagged ``parameters``, in the notebook's language, through a translator looked up
by kernel name or language. papermill ships none for TypeScript, and has no entry point group for
translators, but it loads every ``papermill.engine`` entry point when it is imported. This package
declares one (the engine ``tslab``, which is papermill's own nbclient engine under another name), and
loading it registers the translator below for the kernels ``tslab``/``jslab`` and the languages
``typescript``/``javascript``. So the plain ``papermill`` command and ``papermill.execute_notebook``
both handle these notebooks once the package is installed (scripts/setup-jupyter.sh does that).
"""

__all__ = ['TslabEngine', 'TypeScriptTranslator', 'register']


class TslabEngine:
    """papermill's default nbclient engine (``--engine tslab`` behaves exactly like the default).

    Defined before papermill is imported, and delegating lazily, so that importing this package
    first (which imports papermill, which loads this entry point) is not a circular import.
    """

    @classmethod
    def _engine(cls):
        from papermill.engines import NBClientEngine
        return NBClientEngine

    @classmethod
    def execute_notebook(cls, *args, **kwargs):
        return cls._engine().execute_notebook(*args, **kwargs)

    @classmethod
    def execute_managed_notebook(cls, *args, **kwargs):
        return cls._engine().execute_managed_notebook(*args, **kwargs)

    @classmethod
    def nb_kernel_name(cls, *args, **kwargs):
        return cls._engine().nb_kernel_name(*args, **kwargs)

    @classmethod
    def nb_language(cls, *args, **kwargs):
        return cls._engine().nb_language(*args, **kwargs)


from .translator import TypeScriptTranslator, register  # noqa: E402

register()
