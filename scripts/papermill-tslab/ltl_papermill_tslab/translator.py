"""The TypeScript/JavaScript parameter translator for papermill."""
import json
import math
import re

from papermill.models import Parameter
from papermill.translators import Translator, papermill_translators

KERNELS_AND_LANGUAGES = ('tslab', 'jslab', 'typescript', 'javascript')


class TypeScriptTranslator(Translator):
    """Python values as TypeScript literals; each parameter becomes ``let name = value;``.

    tslab lets a later cell declare a ``let`` again (the later declaration wins), so the injected cell
    works whether or not the parameters cell declared the name, and a value of another type than the
    default (``-p seed 3`` where the default was a string) still type-checks. A parameters cell
    declaring a name with ``const`` cannot be overridden; the notebooks use ``let``.
    """

    # let|const|var name[: type] = value;  [// help]
    PARAMETER_PATTERN = re.compile(
        r'^\s*(?:export\s+)?(?:let|const|var)\s+(?P<target>[A-Za-z_$][\w$]*)\s*'
        r'(?::\s*(?P<annotation>[^=]+?)\s*)?=\s*(?P<value>.*?)\s*;?\s*(?://\s*(?P<help>.*))?$'
    )

    @classmethod
    def translate_none(cls, val):
        return 'null'

    @classmethod
    def translate_escaped_str(cls, str_val):
        # A JSON string is a valid JS/TS string literal (ES2019: U+2028/9 included).
        return json.dumps(str(str_val), ensure_ascii=False)

    @classmethod
    def translate_str(cls, val):
        return cls.translate_escaped_str(val)

    @classmethod
    def translate_int(cls, val):
        return str(val)

    @classmethod
    def translate_float(cls, val):
        if math.isnan(val):
            return 'NaN'
        if math.isinf(val):
            return 'Infinity' if val > 0 else '-Infinity'
        return repr(val)

    @classmethod
    def translate_bool(cls, val):
        return 'true' if val else 'false'

    @classmethod
    def translate_dict(cls, val):
        items = ', '.join(f'{cls.translate_str(k)}: {cls.translate(v)}' for k, v in val.items())
        return f'{{{items}}}'

    @classmethod
    def translate_list(cls, val):
        return '[' + ', '.join(cls.translate(v) for v in val) + ']'

    @classmethod
    def comment(cls, cmt_str):
        return f'// {cmt_str}'.strip()

    @classmethod
    def assign(cls, name, str_val):
        return f'let {name} = {str_val};'

    @classmethod
    def inspect(cls, parameters_cell):
        """The ``let``/``const``/``var`` declarations of a parameters cell (for ``papermill --help-notebook``).

        One declaration per line; the help text is a ``//`` comment at its end or on the lines above.
        """
        params = []
        pending_help = []
        for line in parameters_cell['source'].splitlines():
            stripped = line.strip()
            if not stripped:
                pending_help = []
                continue
            if stripped.startswith('//'):
                pending_help.append(stripped[2:].strip())
                continue
            m = cls.PARAMETER_PATTERN.match(line)
            if m:
                help_text = m.group('help') or ' '.join(pending_help)
                value = m.group('value')
                params.append(Parameter(
                    name=m.group('target'),
                    inferred_type_name=(m.group('annotation') or _infer_type(value)).strip(),
                    default=value,
                    help=help_text.strip(),
                ))
            pending_help = []
        return params


def _infer_type(value):
    v = value.strip()
    if v[:1] in ('"', "'", '`'):
        return 'string'
    if v in ('true', 'false'):
        return 'boolean'
    if v == 'null':
        return 'NoneType'
    if re.fullmatch(r'[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?', v):
        return 'number'
    if v.startswith('['):
        return 'array'
    if v.startswith('{'):
        return 'object'
    return 'None'


def register():
    """Registers the translator with papermill for the tslab kernels and their languages."""
    for key in KERNELS_AND_LANGUAGES:
        papermill_translators.register(key, TypeScriptTranslator)
