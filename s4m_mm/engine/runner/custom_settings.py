# Copyright (c) s4m-mm authors. All rights reserved.
"""The custom-data template: a config's ``custom_settings`` (class names,
data paths, input size, SAM) and the ``'${name}'`` values they fill in.

mmengine evaluates a base config before its child, so a template could not
derive its class counts or crop sizes from values a user's config sets;
instead the template writes the derived values as placeholders, e.g.
``num_things_classes='${num_classes}'``, and :func:`apply_custom_settings`
(run by :class:`S4MRunner` before it builds anything) replaces each one
with its value, after checking the settings against the files they name.
A placeholder is a whole string value; :data:`PLACEHOLDERS` lists them.
"""
import copy
import os.path as osp
from typing import Any, Callable, Dict, List, Tuple

from mmengine.config import Config, ConfigDict

from s4m_mm.datasets.coco_validation import AnnotationError, load_coco_json

#: settings keys and their defaults (``None``: no default, to be set when a
#: placeholder needs it)
SETTINGS = dict(
    classes=None,
    data_root='',
    labeled_ann=None,
    labeled_img='',
    unlabeled_img=None,
    unlabeled_list='',
    val_ann=None,
    val_img='',
    input_size=None,
    sam_type='sam2_hiera_l',
    sam_checkpoint='data/pretrained/sam2_hiera_large.pt',
    sam_options={},
    teacher_checkpoint=None,
)
_PREFIX, _SUFFIX = '${', '}'


def _classes(s: dict) -> tuple:
    return tuple(s['classes'])


def _input_hw(s: dict) -> Tuple[int, int]:
    return tuple(int(v) for v in s['input_size'])


def _val_ann_file(s: dict) -> str:
    return osp.join(s['data_root'], s['val_ann'])


def _sam(s: dict) -> dict:
    from s4m_mm.models.sam import sam_adapter_config
    return sam_adapter_config(s['sam_type'], s['sam_checkpoint'],
                              **s['sam_options'])


#: ``name -> (settings keys it needs, value)``
PLACEHOLDERS: Dict[str, Tuple[Tuple[str, ...], Callable[[dict], Any]]] = {
    'classes': (('classes', ), _classes),
    'num_classes': (('classes', ), lambda s: len(s['classes'])),
    # Mask2Former's class weights: 1 per class, 0.1 for "no object"
    'class_weight':
    (('classes', ), lambda s: [1.0] * len(s['classes']) + [0.1]),
    'data_root': (('data_root', ), lambda s: s['data_root']),
    'labeled_ann': (('labeled_ann', ), lambda s: s['labeled_ann']),
    'labeled_img': (('labeled_img', ), lambda s: s['labeled_img']),
    # '' when a list of paths names the images (unlabeled_list)
    'unlabeled_img':
    (('unlabeled_img', ), lambda s: s['unlabeled_img'] or ''),
    'unlabeled_list': (('unlabeled_list', ), lambda s: s['unlabeled_list']),
    'val_ann': (('val_ann', ), lambda s: s['val_ann']),
    'val_img': (('val_img', ), lambda s: s['val_img']),
    'val_ann_file': (('data_root', 'val_ann'), _val_ann_file),
    # (h, w) as BatchFixedSizePad, (w, h) as RandomCrop / Resize
    'input_hw': (('input_size', ), _input_hw),
    'input_wh': (('input_size', ), lambda s: _input_hw(s)[::-1]),
    # sam_checkpoint None: LiteMedSAM's packaged weights (or random_init=True
    # in sam_options)
    'sam': (('sam_type', ), _sam),
    'teacher_checkpoint':
    (('teacher_checkpoint', ), lambda s: s['teacher_checkpoint']),
}


def placeholder_name(value: Any):
    """``'num_classes'`` for ``'${num_classes}'``; ``None`` for anything
    else."""
    if isinstance(value, str) and value.startswith(_PREFIX) and \
            value.endswith(_SUFFIX):
        return value[len(_PREFIX):-len(_SUFFIX)]
    return None


def find_placeholders(node: Any, where: str = '') -> List[Tuple[str, str]]:
    """``(config key, placeholder name)`` of every placeholder in a
    config tree."""
    found = []
    name = placeholder_name(node)
    if name is not None:
        found.append((where, name))
    elif isinstance(node, dict):
        for key, value in node.items():
            found += find_placeholders(value, f'{where}.{key}'.lstrip('.'))
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            found += find_placeholders(value, f'{where}.{i}')
    return found


def _fill(node: Any, values: Dict[str, Any]) -> Any:
    name = placeholder_name(node)
    if name is not None:
        return copy.deepcopy(values[name])
    if isinstance(node, dict):
        return type(node)({k: _fill(v, values) for k, v in node.items()})
    if isinstance(node, (list, tuple)):
        return type(node)(_fill(v, values) for v in node)
    return node


def check_settings(settings: dict, needed: set, source: str) -> dict:
    """``settings`` with the defaults, checked.

    Raises:
        ValueError / FileNotFoundError / AnnotationError: an unknown key, a
            needed value unset or of the wrong kind, a file or folder that
            does not exist, or a class list that disagrees with an
            annotation file, each naming the key or the file.
    """
    unknown = sorted(set(settings) - set(SETTINGS))
    if unknown:
        raise ValueError(f'{source}: unknown custom_settings keys {unknown};'
                         f' the keys are {list(SETTINGS)}')
    s = dict(SETTINGS, **settings)
    unset = sorted(k for k in needed if s[k] is None)
    if 'unlabeled_img' in unset and s['unlabeled_list']:
        unset.remove('unlabeled_img')  # a list of paths is enough
    if unset:
        raise ValueError(f'{source}: custom_settings needs {unset} (set '
                         'them in the config, e.g. custom_settings = dict('
                         f'{unset[0]}=...))')
    classes = s['classes']
    if 'classes' in needed:
        if isinstance(classes, str) or not classes or not all(
                isinstance(c, str) and c for c in classes) or \
                len(set(classes)) != len(classes):
            raise ValueError(
                f'{source}: custom_settings.classes must be a non-empty '
                f'list of distinct class names, got {classes!r}')
    if 'input_size' in needed:
        size = s['input_size']
        if not isinstance(size, (list, tuple)) or len(size) != 2 or not all(
                isinstance(v, int) and v > 0 and v % 32 == 0 for v in size):
            raise ValueError(
                f'{source}: custom_settings.input_size must be (h, w), two '
                f'positive multiples of 32 (the batch is padded to it and '
                f'Mask2Former divides it by 32), got {size!r}')
    root = s['data_root']
    for key in ('labeled_ann', 'val_ann'):
        if key in needed:
            path = osp.join(root, s[key])
            check_classes_against_json(path, tuple(classes), key)
    if 'unlabeled_img' in needed and not s['unlabeled_list']:
        folder = osp.join(root, s['unlabeled_img'])
        if not osp.isdir(folder):
            raise FileNotFoundError(
                f'{source}: custom_settings.unlabeled_img: the folder '
                f'{folder!r} does not exist')
    if 'unlabeled_list' in needed and s['unlabeled_list']:
        path = osp.join(root, s['unlabeled_list'])
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'{source}: custom_settings.unlabeled_list: {path!r} does '
                'not exist')
    return s


def check_classes_against_json(path: str, classes: tuple, key: str) -> None:
    """The names of the file's ``categories`` are ``classes``, no more, no
    fewer (mmdet would silently shrink or shift the label space)."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'custom_settings.{key}: the annotation file {path!r} does not '
            'exist')
    names = [c.get('name') for c in load_coco_json(path).get('categories',
                                                             [])]
    missing = [c for c in classes if c not in names]
    extra = [n for n in names if n not in classes]
    if missing:
        raise AnnotationError(
            f'{path}: classes {missing} of custom_settings.classes are not '
            f'among the file\'s categories {names}')
    if extra:
        raise AnnotationError(
            f'{path}: the file\'s categories {extra} are not in '
            f'custom_settings.classes {list(classes)}; add them, or remove '
            'them (and their annotations) from the file')


def apply_custom_settings(cfg: Config) -> Config:
    """``cfg`` with every ``'${name}'`` placeholder replaced by its value
    from ``cfg.custom_settings``; ``cfg`` itself if it has none.

    Raises:
        ValueError: a placeholder without settings, or an unknown one.
    """
    found = find_placeholders(cfg._cfg_dict.to_dict())
    if not found:
        return cfg
    source = cfg.filename or 'the config'
    unknown = sorted({(k, n) for k, n in found if n not in PLACEHOLDERS})
    if unknown:
        raise ValueError(f'{source}: unknown placeholders '
                         f'{[f"{k}: ${{{n}}}" for k, n in unknown]}; the '
                         f'placeholders are {list(PLACEHOLDERS)}')
    if 'custom_settings' not in cfg:
        raise ValueError(
            f'{source} uses custom_settings placeholders (e.g. {found[0][0]}'
            f' = ${{{found[0][1]}}}) but defines no custom_settings; see '
            'configs/s4m/custom/README.md')
    names = {n for _, n in found}
    needed = {key for n in names for key in PLACEHOLDERS[n][0]}
    settings = check_settings(dict(cfg.custom_settings), needed, source)
    values = {n: PLACEHOLDERS[n][1](settings) for n in names}
    filled = _fill(cfg._cfg_dict.to_dict(), values)
    return Config(ConfigDict(filled), filename=cfg.filename)
