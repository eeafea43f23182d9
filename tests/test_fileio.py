"""The caches' file helpers: the code digest that keys results to the code that computed them."""

from emoprobe.fileio import code_digest


def test_the_code_digest_moves_with_the_code_the_names_and_the_extras_and_only_with_them(tmp_path):
    (tmp_path / "a.py").write_text("x = 1\n")
    (tmp_path / "b.py").write_text("y = 2\n")
    files = [tmp_path / "a.py", tmp_path / "b.py"]
    before = code_digest(files, tmp_path, ["numpy==2.0"])
    assert code_digest(files, tmp_path, ["numpy==2.0"]) == before and len(before) == 16
    assert code_digest(files, tmp_path, ["numpy==2.1"]) != before
    assert code_digest(files[:1], tmp_path, ["numpy==2.0"]) != before
    (tmp_path / "b.py").write_text("y = 3\n")
    assert code_digest(files, tmp_path, ["numpy==2.0"]) != before
    # The same code elsewhere gives the same digest: names are relative to the root.
    other = tmp_path / "copy"
    other.mkdir()
    for f in files:
        (other / f.name).write_bytes(f.read_bytes())
    assert code_digest([other / f.name for f in files], other, ["numpy==2.0"]) == \
        code_digest(files, tmp_path, ["numpy==2.0"])
