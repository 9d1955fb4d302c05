"""Folder-per-class image sets: read a user's folder, split it, build small real ones.

The layout is the one Keras' ``flow_from_directory`` reads (seeds/001, seeds/002)::

    data_dir/
        Angry/  1564075.jpg ...
        Happy/  ...
        Sad/    ...

Class names are the sub-folder names sorted alphabetically; class ``i`` is the
``i``-th name (Keras' rule). Images are held in memory as ``uint8`` arrays
``(N, H, W, C)`` — ``N·H·W·C`` bytes, e.g. 1,000 RGB images at 224×224 take
150 MB — so this is meant for course-sized sets, not ImageNet.

No network: :func:`make_photo_folder` builds small real sets from the photos
scikit-image ships inside its wheel (``skimage.data``: ``lfw_subset`` faces,
``chelsea``, ``coffee``, ``astronaut``, ``rocket``).

Only NumPy and scikit-image are used here; TensorFlow is never imported.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from io import BytesIO
from pathlib import Path

import numpy as np
from numpy.typing import ArrayLike

from convlab.util.checks import check_int, check_real_dtype, is_int
from convlab.util.files import atomic_path, check_path

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageSet",
    "read_image_folder",
    "load_image",
    "split_indices",
    "make_photo_folder",
    "size_pair",
    "PHOTO_KINDS",
]

#: File suffixes tried as images (lower-case). Other files are skipped with the one warning.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".ppm", ".webp")

#: Kinds :func:`make_photo_folder` can build, with their class names.
PHOTO_KINDS = {
    "faces": ("face", "not_face"),
    "photos": ("astronaut", "cat", "coffee", "rocket"),
}


def size_pair(image_size: int | Sequence[int], name: str = "image_size") -> tuple[int, int]:
    """``(height, width)`` in pixels from an int (a square) or a pair of ints.

    Raises:
        TypeError: not an int or a pair of ints (bools refused), naming ``name``.
        ValueError: a side below 1.
    """
    if is_int(image_size):
        image_size = (int(image_size), int(image_size))
    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2 or not all(is_int(v) for v in image_size):
        raise TypeError(f"{name} must be an int or a pair of ints (height, width) in pixels, got {image_size!r}")
    h, w = int(image_size[0]), int(image_size[1])
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be positive (height, width) in pixels, got {image_size!r}")
    return h, w


def _int_array(values: ArrayLike, name: str) -> np.ndarray:
    """``values`` as int64, refusing what the cast would change (0.5 → 0, NaN, bools, strings).

    Raises:
        TypeError: not real numbers, or bools. ValueError: a ragged sequence, or a
            float that is not a whole number (naming ``name``).
    """
    arr = check_real_dtype(values, name)
    if arr.dtype.kind == "b":
        raise TypeError(f"{name} must hold integers, got dtype bool")
    if arr.dtype.kind == "f":
        whole = np.isfinite(arr) & (arr == np.floor(arr)) & (np.abs(arr) < 2.0**63)
        if not np.all(whole):
            raise ValueError(f"{name} must hold whole numbers, got {arr[~whole].ravel()[0]!r}")
    elif arr.dtype.kind == "u" and arr.size and int(arr.max()) >= 2**63:
        raise ValueError(f"{name} must fit in int64, got {int(arr.max())}")
    return arr.astype(np.int64, copy=False)


@dataclass
class ImageSet:
    """Images with integer labels and the names of their classes.

    Attributes:
        images: ``uint8`` array ``(N, H, W, C)``, pixel values 0–255 (C = 3 for
            ``color_mode="rgb"``, 1 for ``"grayscale"``).
        labels: ``int64`` array ``(N,)``, values in ``0 … len(class_names) − 1``.
        class_names: the class of each label, in label order.
        paths: the file each image was read from (``""`` when built in memory).
        skipped: files that could not be read as images (read from a folder only).
    """

    images: np.ndarray
    labels: np.ndarray
    class_names: tuple
    paths: tuple = ()
    skipped: tuple = field(default=())

    def __post_init__(self):
        if not isinstance(self.images, np.ndarray) or self.images.ndim != 4:
            raise ValueError(
                f"images must be a 4-D array (N, H, W, C), got "
                f"{getattr(self.images, 'shape', type(self.images).__name__)}"
            )
        self.labels = _int_array(self.labels, "labels")
        if self.labels.shape != (len(self.images),):
            raise ValueError(f"labels must have shape ({len(self.images)},), got {self.labels.shape}")
        self.class_names = tuple(str(c) for c in self.class_names)
        if len(self.labels) and (self.labels.min() < 0 or self.labels.max() >= len(self.class_names)):
            raise ValueError(
                f"labels must lie in 0..{len(self.class_names) - 1}, got {self.labels.min()}..{self.labels.max()}"
            )
        self.paths = tuple(self.paths) if self.paths else ("",) * len(self.images)
        self.skipped = tuple(self.skipped)

    def __len__(self) -> int:
        return len(self.images)

    @property
    def image_size(self) -> tuple[int, int]:
        """``(H, W)`` in pixels."""
        return tuple(self.images.shape[1:3])

    def counts(self) -> dict[str, int]:
        """Images per class: ``{class_name: count}`` in label order."""
        return {c: int(np.sum(self.labels == i)) for i, c in enumerate(self.class_names)}

    def subset(self, index: ArrayLike) -> ImageSet:
        """The images at ``index`` (an int array), same class names.

        Raises:
            TypeError / ValueError: ``index`` is not an array of whole numbers.
        """
        index = _int_array(index, "index")
        return ImageSet(self.images[index], self.labels[index], self.class_names, tuple(self.paths[i] for i in index))

    def one_hot(self) -> np.ndarray:
        """Labels as ``float32`` one-hot rows ``(N, classes)`` (Keras' ``class_mode="categorical"``)."""
        out = np.zeros((len(self.labels), len(self.class_names)), dtype=np.float32)
        out[np.arange(len(self.labels)), self.labels] = 1.0
        return out


def load_image(
    path: str | os.PathLike, image_size: int | Sequence[int] | None = None, color_mode: str = "rgb"
) -> np.ndarray:
    """Read one image file as ``uint8`` ``(H, W, C)``.

    Args:
        path: an image file scikit-image/imageio can read (PNG, JPEG, BMP, GIF, TIFF …).
        image_size: ``(height, width)`` in pixels to resize to (bilinear with
            anti-aliasing, ``skimage.transform.resize``), or ``None`` to keep the size.
        color_mode: ``"rgb"`` (greyscale is repeated into 3 channels, an alpha
            channel is dropped) or ``"grayscale"`` (``0.2125 R + 0.7154 G + 0.0721 B``,
            ``skimage.color.rgb2gray``), one channel.

    Returns:
        ``uint8`` array ``(H, W, 3)`` or ``(H, W, 1)``.

    Raises:
        TypeError / ValueError: ``path`` is not a str/PathLike file name.
        FileNotFoundError: ``path`` does not exist.
        PermissionError, OSError: the file exists but cannot be read (from the OS).
        ValueError: ``color_mode`` unknown, or the file is not a readable image
            (the message names the file).

    The file is read once and closed before it is decoded, whatever its contents.
    """
    from skimage import color, io, transform

    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f'color_mode must be "rgb" or "grayscale", got {color_mode!r}')
    size = None if image_size is None else size_pair(image_size)
    path = Path(check_path(path))
    if not path.is_file():
        raise FileNotFoundError(f"image file not found: {path}")
    # The bytes are read here and decoded from memory: given a file name, imageio tries one plugin
    # after another and leaves a file open for each that fails (a ResourceWarning per plugin).
    raw = path.read_bytes()
    try:
        img = np.asarray(io.imread(BytesIO(raw)))
    except Exception as exc:  # imageio/PIL raise many different types for a bad file
        raise ValueError(f"not a readable image: {path} ({type(exc).__name__}: {exc})") from exc
    if img.ndim == 4:  # animated GIF / multi-page: first frame
        img = img[0]
    if img.ndim not in (2, 3) or img.size == 0 or (img.ndim == 3 and img.shape[-1] not in (1, 2, 3, 4)):
        raise ValueError(f"not a readable image: {path} (array of shape {img.shape})")
    if img.dtype != np.uint8:
        # 16-bit or float images: scale to 0-255 the way skimage does
        from skimage.util import img_as_ubyte

        img = img_as_ubyte(img if img.dtype.kind != "f" else np.clip(img, 0, 1))
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 2:  # grey + alpha
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    if color_mode == "rgb" and img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    elif color_mode == "grayscale":
        if img.ndim == 3:
            img = np.round(color.rgb2gray(img) * 255).astype(np.uint8)
        img = img[..., None]
    if size is not None and img.shape[:2] != size:
        img = transform.resize(img, size + img.shape[2:], order=1, anti_aliasing=True, preserve_range=True)
        img = np.clip(np.round(img), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img, dtype=np.uint8)


def read_image_folder(
    data_dir: str | os.PathLike, image_size: int | Sequence[int] = (224, 224), *, color_mode: str = "rgb"
) -> ImageSet:
    """Read a folder-per-class image set (``data_dir/<class>/<image files>``).

    Class names are the sub-folders of ``data_dir``, sorted (Keras'
    ``flow_from_directory`` order); files within a class are read in sorted
    order. Hidden entries (names starting with ``.``) are ignored. Every other
    file that is not a readable image (wrong suffix, corrupt, empty, a dangling
    link, no permission to read) is skipped, and ONE ``UserWarning`` names all the
    skipped files and counts them. Every file opened is closed.

    Args:
        data_dir: the dataset folder.
        image_size: ``(height, width)`` in pixels every image is resized to.
        color_mode: ``"rgb"`` (3 channels) or ``"grayscale"`` (1 channel).

    Returns:
        :class:`ImageSet` with ``images`` ``uint8 (N, H, W, C)``, ``labels``,
        ``class_names``, ``paths`` and ``skipped``.

    Raises:
        FileNotFoundError: ``data_dir`` is not a folder.
        ValueError: fewer than two class folders, or a class folder with no
            readable image (the message names it); a bad ``image_size`` or ``color_mode``.
        TypeError: ``image_size`` is not an int or a pair of ints; ``data_dir`` is not a str/PathLike.
    """
    size = size_pair(image_size)
    if color_mode not in ("rgb", "grayscale"):
        raise ValueError(f'color_mode must be "rgb" or "grayscale", got {color_mode!r}')
    root = Path(check_path(data_dir, "data_dir"))
    if not root.is_dir():
        raise FileNotFoundError(f"data_dir must be a folder with one sub-folder per class, got {str(data_dir)!r}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if len(classes) < 2:
        raise ValueError(
            f"data_dir must hold at least two class folders (data_dir/<class>/*.png|jpg), "
            f"found {len(classes)} in {root}: {classes}"
        )
    images, labels, paths, skipped = [], [], [], []
    for label, name in enumerate(classes):
        n_before = len(images)
        for f in sorted((root / name).iterdir()):
            if f.name.startswith(".") or f.is_dir():
                continue
            if f.suffix.lower() not in IMAGE_SUFFIXES:
                skipped.append(str(f))
                continue
            try:
                img = load_image(f, size, color_mode)
            except (ValueError, OSError):  # OSError: a dangling link, a file we may not read
                skipped.append(str(f))
                continue
            images.append(img)
            labels.append(label)
            paths.append(str(f))
        if len(images) == n_before:
            raise ValueError(
                f"class folder {str(root / name)!r} holds no readable image "
                f"(suffixes {', '.join(IMAGE_SUFFIXES)}); every class needs at least one"
            )
    if skipped:
        shown = ", ".join(skipped[:20]) + (f", … ({len(skipped) - 20} more)" if len(skipped) > 20 else "")
        warnings.warn(
            f"skipped {len(skipped)} file(s) that are not readable images: {shown}", UserWarning, stacklevel=2
        )
    return ImageSet(np.stack(images), np.asarray(labels, dtype=np.int64), tuple(classes), tuple(paths), tuple(skipped))


def split_indices(
    labels: ArrayLike, validation_split: float = 0.2, test_split: float = 0.1, seed: int = 0
) -> dict[str, np.ndarray]:
    """Stratified, reproducible train/validation/test split (the rule of seeds/002).

    seeds/002 first keeps 10% of the data for testing, then 20% of the rest for
    validation. Per class ``c`` with ``n_c`` images, in class order:

    1. its indices (ascending) are permuted with ``numpy.random.default_rng(seed + c)``;
    2. the first ``n_test = floor(n_c · test_split + 0.5)`` go to ``"test"``;
    3. the next ``n_val = floor((n_c − n_test) · validation_split + 0.5)`` to ``"validation"``;
    4. the rest to ``"train"``.

    Each returned array is sorted ascending. E.g. 100 images per class with the
    defaults: 10 test, 18 validation, 72 train.

    Args:
        labels: int array ``(N,)``.
        validation_split: fraction in ``[0, 1)`` of the non-test images used for validation.
        test_split: fraction in ``[0, 1)`` of all images kept for testing.
        seed: int seed.

    Returns:
        ``{"train": idx, "validation": idx, "test": idx}`` of ``int64`` arrays.

    Raises:
        ValueError: a fraction outside ``[0, 1)``, or a class left with no training image.
        TypeError: ``seed`` is not an int (ValueError: negative); ``labels`` not real numbers.
    """
    labels = check_real_dtype(labels, "labels")
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise ValueError(f"labels must be a 1-D int array, got shape {labels.shape} dtype {labels.dtype}")
    for name, v in (("validation_split", validation_split), ("test_split", test_split)):
        if not isinstance(v, (int, float, np.floating)) or isinstance(v, bool) or not 0 <= v < 1:
            raise ValueError(f"{name} must be a fraction in [0, 1), got {v!r}")
    seed = check_int(seed, "seed", minimum=0)
    if labels.size and int(labels.min()) < 0:
        raise ValueError(f"labels must be class indices >= 0, got {int(labels.min())}")
    out = {"train": [], "validation": [], "test": []}
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        idx = idx[np.random.default_rng(int(seed) + int(c)).permutation(len(idx))]
        n_test = int(np.floor(len(idx) * test_split + 0.5))
        n_val = int(np.floor((len(idx) - n_test) * validation_split + 0.5))
        if len(idx) - n_test - n_val < 1:
            raise ValueError(
                f"class {int(c)} has {len(idx)} image(s): too few to keep one for training "
                f"with test_split={test_split}, validation_split={validation_split}"
            )
        out["test"].append(idx[:n_test])
        out["validation"].append(idx[n_test : n_test + n_val])
        out["train"].append(idx[n_test + n_val :])
    return {k: np.sort(np.concatenate(v)).astype(np.int64) for k, v in out.items()}


def _random_crops(photo: np.ndarray, n: int, size: tuple[int, int], rng) -> list[np.ndarray]:
    """``n`` random square crops covering 40–90% of the photo's shorter side, resized to ``size``."""
    from skimage import transform

    h, w = photo.shape[:2]
    out = []
    for _ in range(n):
        side = int(rng.uniform(0.4, 0.9) * min(h, w))
        top, left = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        crop = photo[top : top + side, left : left + side]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        crop = transform.resize(crop, size + crop.shape[2:], order=1, anti_aliasing=True, preserve_range=True)
        out.append(np.clip(np.round(crop), 0, 255).astype(np.uint8))
    return out


def make_photo_folder(
    dest: str | os.PathLike,
    kind: str = "faces",
    *,
    per_class: int | None = None,
    image_size: int | Sequence[int] | None = None,
    seed: int = 0,
) -> Path:
    """Build a small, real folder-per-class image set from scikit-image's bundled photos.

    Nothing is downloaded: the photos ship inside the scikit-image wheel.

    Kinds:
        ``"faces"``: ``skimage.data.lfw_subset()`` — 200 greyscale 25×25 crops from
        the LFW data set (Huang et al. 2012), the first 100 faces and the last 100
        non-faces (background patches of the same photos) → classes ``face/`` and
        ``not_face/``, 100 PNGs each (``per_class`` takes the first ``per_class``).
        ``"photos"``: random square crops (40–90% of the shorter side, random
        horizontal flip) of ``astronaut``, ``chelsea`` (a cat), ``coffee`` and
        ``rocket`` → classes ``astronaut/``, ``cat/``, ``coffee/``, ``rocket/``,
        ``per_class`` crops each (default 40), RGB.

    Args:
        dest: folder to create (or reuse); class sub-folders are created in it.
        kind: ``"faces"`` or ``"photos"``.
        per_class: images per class (faces: at most 100; photos: default 40).
        image_size: ``(height, width)`` of the written PNGs in pixels (default:
            25×25 for faces, 48×48 for photos).
        seed: int seed for the photo crops.

    Returns:
        ``Path(dest)``. Each file is written to a temporary name and renamed, so a
        reader never sees half a PNG. Files named like this builder's
        (``<class>_NNN.png``) beyond ``per_class``, left by an earlier larger build,
        are removed; other files in ``dest`` are left alone.

    Raises:
        ValueError: unknown ``kind``, ``per_class`` < 1 (or > 100 for faces).
        TypeError: ``image_size`` not an int or pair of ints; ``dest`` not a str/PathLike.
        OSError: a folder or file cannot be created (as :func:`convlab.util.files.atomic_path`, naming it).
    """
    from skimage import data, io

    if kind not in PHOTO_KINDS:
        raise ValueError(f"kind must be one of {sorted(PHOTO_KINDS)}, got {kind!r}")
    if per_class is not None and (not is_int(per_class) or per_class < 1 or (kind == "faces" and per_class > 100)):
        limit = " and at most 100 for faces" if kind == "faces" else ""
        raise ValueError(f"per_class must be a positive int{limit}, got {per_class!r}")
    dest = Path(check_path(dest, "dest"))
    rng = np.random.default_rng(check_int(seed, "seed", minimum=0))
    sets: dict[str, Sequence[np.ndarray]] = {}
    if kind == "faces":
        size = size_pair(image_size) if image_size is not None else (25, 25)
        faces = np.round(np.asarray(data.lfw_subset()) * 255).astype(np.uint8)  # (200, 25, 25), floats in [0, 1]
        n = 100 if per_class is None else int(per_class)
        for name, block in (("face", faces[:100]), ("not_face", faces[100:])):
            imgs = list(block[:n])
            if size != (25, 25):
                imgs = _resize_all(imgs, size)
            sets[name] = imgs
    else:
        size = size_pair(image_size) if image_size is not None else (48, 48)
        n = 40 if per_class is None else int(per_class)
        photos = {
            "astronaut": data.astronaut(),
            "cat": data.chelsea(),
            "coffee": data.coffee(),
            "rocket": data.rocket(),
        }
        for name in PHOTO_KINDS["photos"]:
            sets[name] = _random_crops(np.asarray(photos[name])[..., :3], n, size, rng)
    for name, imgs in sets.items():
        folder = dest / name
        folder.mkdir(parents=True, exist_ok=True)
        for i, img in enumerate(imgs):
            with atomic_path(folder / f"{name}_{i:03d}.png") as tmp:
                io.imsave(tmp, img, check_contrast=False)
        for old in folder.glob(f"{name}_[0-9][0-9][0-9].png"):  # left by an earlier, larger build
            if int(old.stem[-3:]) >= len(imgs):
                old.unlink()
    return dest


def _resize_all(imgs, size):
    """Resize whole images (no crop) to ``size``; used for the faces at a non-native size."""
    from skimage import transform

    return [
        np.clip(np.round(transform.resize(im, size, order=1, anti_aliasing=True, preserve_range=True)), 0, 255).astype(
            np.uint8
        )
        for im in imgs
    ]
