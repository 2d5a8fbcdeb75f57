"""Ticket state: its serialized form, old and new, and the event-id digests it remembers."""

from __future__ import annotations

from pipeline.domain.ticket import SEEN_LIMIT, HeldEvent, Pending, TicketState, event_digest

# A state as format 1 wrote it (an object with short keys): tables and changelogs made before format 2
FORMAT_1 = (b'{"p":3,"c":1773408162008,"sev":4,"prod":"desktop","cust":"desk-cust-01055","cy":1,"cs":1773408162008,'
            b'"eng":"eng-t1-007","x":1773858136567,"r":1773643884379,"io":"breached","tw":1773792547327,'
            b'"z":1773792547327,"s":"+g5ot1O4Vv9CAqlLAc0o94TXSTJ4JIryxlnjBOGrvheWLfUx",'
            b'"ob":[[0,13223,"outcomes",["irt",1,4]]],"h":[[5,3,17,"T-9","{}",null]],"esc":["irt_at_risk:1"]}')


# The same ticket as format 2 wrote it (an array, the IRT decision a field of its own, before judged clocks)
FORMAT_2 = (b'[2,3,1773408162008,4,"desktop","desk-cust-01055",false,1,"eng-t1-007",1773858136567,1773643884379,'
            b'"breached",1,1773408162008,0,null,1773792547327,1773792547327,null,["irt_at_risk:1"],null,null,"",'
            b'[],[[0,13223,"outcomes",["irt",1,4]]]]')


def test_a_format_1_state_is_still_read_and_comes_back_the_same_through_format_3() -> None:
    state = TicketState.from_bytes("T-9", FORMAT_1)
    assert (state.partition, state.severity, state.product, state.engineer_id) == (3, 4, "desktop", "eng-t1-007")
    assert (state.irt_outcome, state.closed_at, state.cycle, state.waiting_ms) == ("breached", 1773858136567, 1, 0)
    assert len(state.seen) == 36 and state.outbox == [Pending(0, 13223, "outcomes", ["irt", 1, 4])]
    assert state.held == [HeldEvent(5, 3, 17, "T-9", "{}", None)] and state.escalated == ["irt_at_risk:1"]
    again = TicketState.from_bytes("T-9", state.to_bytes())
    assert again == state and state.to_bytes().startswith(b"[3,")
    irt = state.clocks[0]  # the IRT decision became the ticket's IRT clock
    assert (irt.metric, irt.start, irt.end, irt.outcome) == ("irt", 1773408162008, 1773643884379, "breached")


def test_a_format_2_state_is_read_with_its_irt_decision_as_the_irt_clock() -> None:
    state = TicketState.from_bytes("T-9", FORMAT_2)
    assert (state.irt_outcome, state.first_response_at, state.resolved_at) == ("breached", 1773643884379, 1773792547327)
    assert [(c.metric, c.start, c.end) for c in state.clocks] == [("irt", 1773408162008, 1773643884379)]
    assert state.contract is None and state.next_responses == 0
    assert TicketState.from_bytes("T-9", state.to_bytes()) == state


def test_only_the_last_32_event_ids_are_remembered_and_only_whole_digests_match() -> None:
    state = TicketState("T-1", 0)
    digests = [event_digest(f"e{i}") for i in range(SEEN_LIMIT + 5)]
    for d in digests:
        state.remember(d)
    assert not any(state.has_seen(d) for d in digests[:5])
    assert all(state.has_seen(d) for d in digests[5:])
    straddling = digests[10][3:] + digests[11][:3]  # the end of one digest and the start of the next
    assert straddling in state.seen and not state.has_seen(straddling)
    assert TicketState.from_bytes("T-1", state.to_bytes()).seen == state.seen
