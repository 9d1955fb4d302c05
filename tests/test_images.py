"""convlab.images: folder-per-class reading, the split rule, the bundled-photo builders (no TensorFlow needed)."""

import subprocess
import sys
import warnings

import numpy as np
import pytest

from convlab.images import ImageSet, load_image, make_photo_folder, read_image_folder, split_indices


@pytest.fixture(scope="module")
def faces(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("faces"), "faces", per_class=12)


def test_faces_folder_layout_and_content(faces):
    from skimage import data

    assert sorted(p.name for p in faces.iterdir()) == ["face", "not_face"]
    files = sorted((faces / "face").iterdir())
    assert len(files) == 12 and len(list((faces / "not_face").iterdir())) == 12
    assert not [p for p in faces.rglob("*") if "tmp" in p.name]  # atomic writes leave nothing behind
    lfw = np.round(data.lfw_subset() * 255).astype(np.uint8)  # first 100 faces, then 100 non-faces
    first = load_image(files[0], color_mode="grayscale")[..., 0]
    assert first.shape == (25, 25)
    np.testing.assert_array_equal(first, lfw[0])
    np.testing.assert_array_equal(
        load_image(faces / "not_face" / "not_face_000.png", color_mode="grayscale")[..., 0], lfw[100]
    )


def test_photos_folder(tmp_path):
    dest = make_photo_folder(tmp_path / "p", "photos", per_class=3, image_size=32)
    s = read_image_folder(dest, (32, 32))
    assert s.class_names == ("astronaut", "cat", "coffee", "rocket")
    assert s.counts() == {"astronaut": 3, "cat": 3, "coffee": 3, "rocket": 3}
    assert s.images.shape == (12, 32, 32, 3) and s.images.dtype == np.uint8
    again = read_image_folder(make_photo_folder(tmp_path / "q", "photos", per_class=3, image_size=32), (32, 32))
    np.testing.assert_array_equal(s.images, again.images)  # same seed, same crops
    (dest / "cat" / "mine.png").write_bytes((dest / "cat" / "cat_000.png").read_bytes())
    make_photo_folder(dest, "photos", per_class=2, image_size=32)  # a smaller rebuild drops cat_002.png only
    assert sorted(p.name for p in (dest / "cat").iterdir()) == ["cat_000.png", "cat_001.png", "mine.png"]


def test_read_folder_rgb_and_grayscale(faces):
    s = read_image_folder(faces, (32, 32))
    assert s.images.shape == (24, 32, 32, 3) and s.images.dtype == np.uint8
    assert s.labels.tolist() == [0] * 12 + [1] * 12
    assert s.class_names == ("face", "not_face") and s.skipped == ()
    np.testing.assert_array_equal(s.images[..., 0], s.images[..., 2])  # greyscale repeated into RGB
    g = read_image_folder(faces, 25, color_mode="grayscale")
    assert g.images.shape == (24, 25, 25, 1)
    assert s.one_hot().shape == (24, 2) and s.one_hot().sum() == 24


def test_unreadable_files_skipped_with_one_warning(tmp_path):
    dest = make_photo_folder(tmp_path / "d", "faces", per_class=3)
    (dest / "face" / "corrupt.png").write_bytes(b"\x89PNG not really")
    (dest / "not_face" / "notes.txt").write_text("hello")
    (dest / "not_face" / ".DS_Store").write_bytes(b"\0")  # hidden: ignored silently
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        s = read_image_folder(dest, (25, 25))
    ours = [w for w in caught if "not readable images" in str(w.message)]
    assert len(ours) == 1
    msg = str(ours[0].message)
    assert "skipped 2 file(s)" in msg and "corrupt.png" in msg and "notes.txt" in msg
    assert len(s) == 6 and len(s.skipped) == 2


def test_folder_errors(tmp_path):
    dest = make_photo_folder(tmp_path / "d", "faces", per_class=2)
    (dest / "empty_class").mkdir()
    with pytest.raises(ValueError, match="empty_class.*no readable image"):
        read_image_folder(dest, 25)
    one = tmp_path / "one"
    (one / "only").mkdir(parents=True)
    with pytest.raises(ValueError, match="at least two class folders"):
        read_image_folder(one, 25)
    with pytest.raises(FileNotFoundError, match="data_dir"):
        read_image_folder(tmp_path / "missing", 25)
    with pytest.raises(TypeError, match="image_size"):
        read_image_folder(dest, "big")
    with pytest.raises(ValueError, match="color_mode"):
        read_image_folder(dest, 25, color_mode="cmyk")


def test_load_image_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    with pytest.raises(ValueError, match="not a readable image"):
        load_image(bad)
    with pytest.raises(ValueError, match="image_size"):
        load_image(bad, (0, 3))


def test_split_rule_sizes_and_reproducibility():
    labels = np.repeat([0, 1, 2], [100, 100, 50])
    s = split_indices(labels)  # seeds/002: 10% test, then 20% of the rest for validation
    sizes = {k: np.bincount(labels[v], minlength=3).tolist() for k, v in s.items()}
    assert sizes == {"test": [10, 10, 5], "validation": [18, 18, 9], "train": [72, 72, 36]}
    allidx = np.concatenate(list(s.values()))
    assert sorted(allidx.tolist()) == list(range(250))  # disjoint and complete
    again = split_indices(labels)
    assert all(np.array_equal(s[k], again[k]) for k in s)
    other = split_indices(labels, seed=1)
    assert not np.array_equal(s["test"], other["test"])
    none = split_indices(labels, 0, 0)
    assert len(none["train"]) == 250 and len(none["test"]) == len(none["validation"]) == 0


def test_split_errors():
    with pytest.raises(ValueError, match="validation_split"):
        split_indices(np.zeros(10, int), validation_split=1.0)
    with pytest.raises(ValueError, match="test_split"):
        split_indices(np.zeros(10, int), test_split=-0.1)
    with pytest.raises(ValueError, match="too few"):
        split_indices(np.array([0, 1, 1, 1]), validation_split=0.5, test_split=0.5)
    with pytest.raises(TypeError, match="seed"):
        split_indices(np.zeros(10, int), seed=0.5)


def test_builder_and_imageset_errors(tmp_path):
    with pytest.raises(ValueError, match="kind"):
        make_photo_folder(tmp_path, "emoji")
    with pytest.raises(ValueError, match="per_class"):
        make_photo_folder(tmp_path, "faces", per_class=101)
    with pytest.raises(ValueError, match="images"):
        ImageSet(np.zeros((2, 3, 3)), [0, 1], ("a", "b"))
    with pytest.raises(ValueError, match="labels"):
        ImageSet(np.zeros((2, 3, 3, 1), np.uint8), [0, 2], ("a", "b"))


def test_import_convlab_does_not_import_tensorflow():
    code = (
        "import sys, convlab, convlab.images, convlab.vgg; "
        "bad = [m for m in ('tensorflow', 'keras', 'jax', 'torch') if m in sys.modules]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_vgg_without_keras_says_how_to_install():
    code = (
        "import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None\n"
        "import convlab.vgg as v\n"
        "try:\n    v.vgg16()\nexcept ImportError as e:\n    print(e); sys.exit(0)\nsys.exit(1)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert 'pip install -e ".[keras]"' in proc.stdout
