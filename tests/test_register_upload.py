"""core.data.register_upload: an uploaded file is copied into the data folder and registered,
or, when anything fails, the folder and dataset_info.json are left as they were."""
import json

import pytest

from core.data import register_upload
from core.errors import UserError

PAIRS = [{"instruction": "q", "chosen": "a", "rejected": "b"}]


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "dataset_info.json").write_text(json.dumps({"taken": {"file_name": "x.json"}}))
    return folder


def upload(tmp_path, rows, name="up.json"):
    path = tmp_path / "uploads" / name
    path.parent.mkdir(exist_ok=True)
    path.write_text(rows if isinstance(rows, str) else json.dumps(rows))
    return path


def state(folder):
    return sorted(p.name for p in folder.iterdir()), (folder / "dataset_info.json").read_text()


def test_registers_a_copy_inside_the_data_folder(data, tmp_path):
    reg = register_upload(upload(tmp_path, PAIRS), "mine", data / "sub" / "mine.json", data)
    assert reg.registry == data / "dataset_info.json" and reg.stage == "dpo" and reg.rows == 1
    assert json.loads((data / "sub" / "mine.json").read_text()) == PAIRS
    assert json.loads(reg.registry.read_text())["mine"]["file_name"] == "sub/mine.json"


@pytest.mark.parametrize("rows, name, error", [
    ([{"instruction": "q", "chosen": "", "rejected": "b"}], "bad", None),  # a bad record
    (PAIRS, "taken", "already"),  # the name is registered
    ("not json at all", "broken", "not valid JSON"),  # register_file raises while reading
])
def test_a_failed_registration_removes_the_copy(data, tmp_path, rows, name, error):
    before = state(data)
    if error is None:
        assert register_upload(upload(tmp_path, rows), name, data / "new.json", data).registry is None
    else:
        with pytest.raises(UserError, match=error):
            register_upload(upload(tmp_path, rows), name, data / "new.json", data)
    assert state(data) == before


def test_bad_records_register_when_allowed(data, tmp_path):
    rows = PAIRS + [{"instruction": "q2", "chosen": "", "rejected": "b"}]
    reg = register_upload(upload(tmp_path, rows), "some", data / "some.json", data,
                          allow_bad=True)
    assert reg.registry is not None and reg.rows == 1 and len(reg.errors) == 1
    assert (data / "some.json").is_file()


def test_refuses_a_target_outside_the_folder_or_taken(data, tmp_path):
    before = state(data)
    with pytest.raises(UserError, match="must be inside"):
        register_upload(upload(tmp_path, PAIRS), "out", tmp_path / "out.json", data)
    assert not (tmp_path / "out.json").exists()
    (data / "keep.json").write_text("[]")
    with pytest.raises(UserError, match="exists already"):
        register_upload(upload(tmp_path, PAIRS), "keep", data / "keep.json", data)
    assert (data / "keep.json").read_text() == "[]"
    assert state(data)[1] == before[1]
