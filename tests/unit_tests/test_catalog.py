import json

import pytest

from task_router import CatalogError, Task, TaskCatalog


def test_demo_catalog_is_a_professional_assistant():
    demo = TaskCatalog.demo()
    assert {"meeting_recap", "follow_up_email", "idea_to_notes", "linkedin_post", "one_minute_pitch"} <= set(demo.names)
    assert all(task.description and task.inputs for task in demo)


def test_edits_bump_the_version_and_invalidate_memos(catalog):
    calls = []
    render = lambda: calls.append(1) or ",".join(catalog.names)  # noqa: E731
    assert catalog.memo("k", render) == "recap,email,post"
    assert catalog.memo("k", render) == "recap,email,post"
    assert len(calls) == 1
    v = catalog.version
    catalog.add(Task(name="pitch", description="A one-minute pitch."))
    catalog.update("email", description="Write any follow-up email.")
    catalog.remove("recap")
    assert catalog.version == v + 3
    assert catalog.memo("k", render) == "email,post,pitch"
    assert catalog["email"].description == "Write any follow-up email."


@pytest.mark.parametrize(
    ("records", "fragment"),
    [
        ([{"name": "a", "description": "x"}, {"name": "a", "description": "y"}], "duplicate"),
        ([{"name": "", "description": "x"}], "name is empty"),
        ([{"name": "a"}], "description"),
        ([{"name": "a", "description": "   "}], "description is empty"),
        ([{"name": "my task", "description": "x"}], "'my_task'"),
        ([{"name": "NONE", "description": "x"}], "reserved"),
        ([{"name": "a", "description": "x" * 5000}], "shorten"),
        ([], "empty"),
        (["just a string"], "mapping"),
    ],
)
def test_bad_catalogues_name_the_fix(records, fragment):
    with pytest.raises(CatalogError, match=fragment):
        TaskCatalog.from_records(records)


def test_runtime_edit_errors(catalog):
    with pytest.raises(CatalogError, match="update"):
        catalog.add({"name": "recap", "description": "again"})
    with pytest.raises(CatalogError, match="not in the catalogue"):
        catalog.remove("nope")
    with pytest.raises(CatalogError, match="cannot be updated"):
        catalog.update("recap", name="other")


def test_load_yaml_and_json(tmp_path):
    (tmp_path / "c.yaml").write_text("tasks:\n  - name: a\n    description: Do A.\n    examples: [do a]\n")
    (tmp_path / "c.json").write_text(json.dumps([{"name": "b", "description": "Do B."}]))
    assert TaskCatalog.from_file(tmp_path / "c.yaml")["a"].examples == ["do a"]
    assert TaskCatalog.from_file(tmp_path / "c.json").names == ["b"]


@pytest.mark.parametrize(
    ("text", "suffix", "fragment"),
    [
        ("tasks: [", ".yaml", "not valid YAML"),
        ("{", ".json", "not valid JSON"),
        ("name: a", ".yaml", "must hold a list"),
    ],
)
def test_malformed_files(tmp_path, text, suffix, fragment):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(CatalogError, match=fragment):
        TaskCatalog.from_file(path)


def test_missing_file(tmp_path):
    with pytest.raises(CatalogError, match="cannot read"):
        TaskCatalog.from_file(tmp_path / "nope.yaml")


def test_none_is_an_empty_catalogue_to_add_tasks_to():
    catalog = TaskCatalog(None)
    assert catalog.names == [] and catalog.version == 0
    catalog.add(Task(name="recap", description="Recap a meeting."))
    assert catalog.names == ["recap"]


@pytest.mark.parametrize("tasks", [42, "recap", {"name": "recap", "description": "Recap a meeting."}])
def test_a_catalogue_of_something_else_than_tasks_names_the_fix(tasks):
    with pytest.raises(CatalogError, match="must be a list of tasks"):
        TaskCatalog(tasks)


def test_task_names_have_a_length_limit_that_answers_can_hold():
    with pytest.raises(CatalogError) as info:
        TaskCatalog.from_records([{"name": "n" * 10_000, "description": "d"}])
    from task_router._catalog import MAX_NAME_CHARS
    from task_router.routers._parsing import MAX_ANSWER_CHARS

    message = str(info.value)
    assert f"10000 characters (max {MAX_NAME_CHARS})" in message and "display_name" in message
    assert len(message) < 1000  # the name is not repeated in full
    assert MAX_NAME_CHARS < MAX_ANSWER_CHARS // 4
    assert Task(name="n" * MAX_NAME_CHARS, description="d").name == "n" * MAX_NAME_CHARS


def test_names_differing_only_by_case_are_refused_naming_the_fix():
    # Routers match a model's answer without case ("RECAP", "Recap"): two such names could not be told apart.
    records = [{"name": "recap", "description": "Recap a meeting."}, {"name": "Recap", "description": "Recap a call."}]
    with pytest.raises(CatalogError, match="only by case") as caught:
        TaskCatalog.from_records(records)
    assert "'recap'" in str(caught.value) and "rename one" in str(caught.value)
    catalog = TaskCatalog(records[:1])
    with pytest.raises(CatalogError, match="only by case"):
        catalog.add(records[1])
    assert catalog.names == ["recap"]
    # nor by separators: a model answering "Meeting Recap" could mean either
    with pytest.raises(CatalogError, match="or separators"):
        TaskCatalog([{"name": n, "description": "Recap."} for n in ("meeting_recap", "meeting-recap")])
    catalog.remove("recap")
    catalog.add({"name": "Recap", "description": "Recap a call."})  # the removed name's key is free again
