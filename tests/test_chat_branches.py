"""Branches in the chats database: regenerate and edit keep every version; ‹ n/m › switches;
fork copies; everything survives closing and reopening the file."""

from __future__ import annotations

from pathlib import Path

from lmdesk.core.chats import Alternatives, ChatStore


def _texts(store: ChatStore, conversation_id: int) -> list[str]:
    return [m.content for m in store.messages(conversation_id)]


def test_regenerate_keeps_the_earlier_replies_as_alternatives(tmp_path: Path) -> None:
    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        chat = store.create_conversation("Sky")
        store.add_message(chat.id, "user", "Colour of the sky?")
        first = store.add_message(chat.id, "assistant", "Blue.", reasoning="Rayleigh.")
        assert store.branch_from(first.id) == 1  # regenerate: the reply moves aside
        with store.begin_reply(chat.id) as writer:
            writer.append("Grey, today.")
        second_id = writer.message_id
        assert _texts(store, chat.id) == ["Colour of the sky?", "Grey, today."]
        assert store.alternatives(chat.id) == {second_id: Alternatives(2, 2)}
    with ChatStore(path) as store:  # reopened: both versions are there
        shown = store.switch_alternative(second_id, -1)
        assert shown.id == first.id and shown.reasoning == "Rayleigh."
        assert _texts(store, chat.id) == ["Colour of the sky?", "Blue."]
        assert store.alternatives(chat.id) == {first.id: Alternatives(1, 2)}
        assert store.switch_alternative(first.id, +1).id == second_id  # and back
        assert _texts(store, chat.id) == ["Colour of the sky?", "Grey, today."]


def test_editing_a_user_message_forks_without_deleting_what_followed(tmp_path: Path) -> None:
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        chat = store.create_conversation("Maths")
        q1 = store.add_message(chat.id, "user", "2 + 2?")
        store.add_message(chat.id, "assistant", "4")
        q2 = store.add_message(chat.id, "user", "times 3?")
        store.add_message(chat.id, "assistant", "12")
        store.branch_from(q2.id)  # edit "times 3?" -> "times 5?"
        edited = store.add_message(chat.id, "user", "times 5?")
        store.add_message(chat.id, "assistant", "20")
        assert _texts(store, chat.id) == ["2 + 2?", "4", "times 5?", "20"]
        assert store.alternatives(chat.id) == {edited.id: Alternatives(2, 2)}
        store.switch_alternative(edited.id, -1)
        assert _texts(store, chat.id) == ["2 + 2?", "4", "times 3?", "12"]
        # A branch further up keeps the nested ones with it.
        store.branch_from(q1.id)
        new_q1 = store.add_message(chat.id, "user", "3 + 3?")
        assert _texts(store, chat.id) == ["3 + 3?"]
        store.switch_alternative(new_q1.id, -1)
        assert _texts(store, chat.id) == ["2 + 2?", "4", "times 3?", "12"]
        alternatives = store.alternatives(chat.id)
        assert alternatives[q1.id] == Alternatives(1, 2) and alternatives[q2.id].count == 2


def test_fork_copies_the_conversation_up_to_a_message(tmp_path: Path) -> None:
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        chat = store.create_conversation("Trip", system_prompt="Be brief.")
        store.update_conversation(chat.id, sampling={"temperature": 0.2})
        store.add_message(chat.id, "user", "Where to?")
        answer = store.add_message(chat.id, "assistant", "Lisbon.", reasoning="Sunny.")
        store.add_message(chat.id, "user", "When?")
        fork = store.fork_conversation(answer.id)
        assert fork.id != chat.id and fork.title == "Trip (fork)"
        assert fork.system_prompt == "Be brief." and fork.sampling == {"temperature": 0.2}
        copied = store.messages(fork.id)
        assert [m.content for m in copied] == ["Where to?", "Lisbon."]
        assert copied[1].reasoning == "Sunny."
        assert _texts(store, chat.id) == ["Where to?", "Lisbon.", "When?"]  # untouched


def test_a_reply_cut_off_in_a_branch_comes_back_interrupted(tmp_path: Path) -> None:
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        chat = store.create_conversation("Cut")
        store.add_message(chat.id, "user", "Hi")
        writer = store.begin_reply(chat.id)
        writer.append("Hel")
        writer.flush()
        store.branch_from(writer.message_id)  # as if it had been moved while streaming
        other = store.add_message(chat.id, "assistant", "Hello!")
        back = store.switch_alternative(other.id, -1)
        assert back.state == "interrupted" and back.content == "Hel"


def test_a_rebuilt_database_keeps_thinking_branches_and_presets(tmp_path: Path) -> None:
    from lmdesk.core.chats.recovery import recover_database

    path = tmp_path / "chats.sqlite3"
    with ChatStore(path) as store:
        chat = store.create_conversation("Kept")
        store.add_message(chat.id, "user", "Hi")
        old = store.add_message(chat.id, "assistant", "Hello", reasoning="Greet back.")
        store.branch_from(old.id)
        new = store.add_message(chat.id, "assistant", "Hey")
        store.save_preset("Terse", system_prompt="Be terse.", sampling={"top_k": 5})
        store.set_model_template("/m.gguf", "{{ x }}")
    recover_database(path, now=0)  # as after damage: rebuilt from what can be read
    with ChatStore(path) as store:
        assert store.alternatives(chat.id)[new.id].count == 2
        back = store.switch_alternative(new.id, -1)
        assert back.reasoning == "Greet back." and back.content == "Hello"
        assert store.preset("Terse").sampling == {"top_k": 5}
        assert store.model_preferences("/m.gguf").chat_template == "{{ x }}"


def test_thinking_travels_with_an_export(tmp_path: Path) -> None:
    with ChatStore(tmp_path / "chats.sqlite3") as store:
        chat = store.create_conversation("Export")
        store.add_message(chat.id, "user", "Hi")
        store.add_message(chat.id, "assistant", "Hello", reasoning="Be kind.\nGreet.")
        copy = store.import_json(store.export_json(chat.id))
        assert store.messages(copy.id)[1].reasoning == "Be kind.\nGreet."
        markdown = store.export_markdown(chat.id)
        assert "> **Thinking**" in markdown and "> Be kind.\n> Greet." in markdown
