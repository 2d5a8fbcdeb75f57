"""``/runbooks``: a page a browser shows, with a section for every link an alert or a page carries."""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
import yaml

from pipeline import resources
from pipeline.domain.contracts import NOTIFIABLE
from pipeline.domain.policy import Policy
from pipeline.domain.records import Escalation
from pipeline.notify import ALERTNAMES, NotifyConfig, to_alert
from pipeline.observability import rules
from pipeline.worker import runbooks
from tests.unit.test_contract_metrics import contracts_policy


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: list[str] = []
        self.title = ""
        self._in: str | None = None
        self.text: dict[str, str] = {}  # id -> the text of the element that carries it
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs).get("id")
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        if found:
            self.ids.append(found)
            self._in = found
            self.text[found] = ""
        elif tag == "title":
            self._in = "<title>"

    def handle_endtag(self, tag: str) -> None:
        self._in = None

    def handle_data(self, data: str) -> None:
        if self._in == "<title>":
            self.title += data
        elif self._in is not None:
            self.text[self._in] += data


def page() -> _Page:
    kind, body = runbooks.render("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")  # Chromium's
    assert kind == "text/html; charset=utf-8"
    parsed = _Page()
    parsed.feed(body.decode("utf-8"))
    return parsed


def shipped_rule_anchors() -> set[str]:
    doc = yaml.safe_load(resources.read_text(resources.RULES))
    urls = [r["annotations"]["runbook_url"] for group in doc["groups"] for r in group["rules"]
            if "runbook_url" in r.get("annotations", {})]
    assert len(urls) >= 10  # the shipped rules are read, not an empty file
    return {urlsplit(url).fragment for url in urls}


def escalation_anchors() -> set[str]:
    anchors = set()
    for kind in ALERTNAMES:  # the rungs that page or warn (an exit only resolves them)
        esc = Escalation(f"T-1:{kind}:1:1", 1, "T-1", kind, 1, 1, "automation", "C-17", False, None, None, None,
                         "why", "2026-03-02T09:12:00.000Z")
        anchors.add(urlsplit(to_alert(esc, NotifyConfig(), 0)["annotations"]["runbook_url"]).fragment)
    return anchors


def test_every_alerts_runbook_anchor_has_an_element_with_that_id() -> None:
    ids = set(page().ids)
    wanted = shipped_rule_anchors() | escalation_anchors()
    assert "" not in wanted and {"worker-down", "irt-at-risk", "bizcrit-executive"} <= wanted
    assert sorted(wanted - ids) == []


def test_the_rules_generated_from_code_link_to_sections_too() -> None:
    urls = [r["annotations"]["runbook_url"] for r in rules.alert_rules(Policy(), "http://noc.example/runbooks")]
    assert {urlsplit(u).fragment for u in urls} <= set(page().ids)


def test_every_contract_alert_links_to_a_section() -> None:
    doc = rules.rules_file(contracts_policy(), "http://noc.example/runbooks")
    alerts = [r for group in doc["groups"] if group["name"] == "sla-contract-alerts" for r in group["rules"]]
    wanted = {urlsplit(r["annotations"]["runbook_url"]).fragment for r in alerts}
    assert wanted == {"contract-error-budget-burn", "contract-unknown"}
    assert wanted <= set(page().ids)


def test_every_contract_notice_kind_has_a_section() -> None:
    """The notices' runbook links are their kind with dashes (as the notifier writes the IRT rungs')."""
    kinds = [f"{metric}_{what}" for metric in NOTIFIABLE for what in ("at_risk", "breached")]
    anchors = {kind.replace("_", "-") for kind in [*kinds, "allowance_exceeded"]}
    assert len(anchors) == 7 and anchors <= set(page().ids)


def test_the_page_has_a_title_unique_ids_and_each_section_under_its_heading() -> None:
    seen = page()
    assert seen.title == "sla-pipeline: Runbooks"
    assert len(seen.ids) == len(set(seen.ids))
    assert "#storage-failure" in seen.links and {a[1:] for a in seen.links if a.startswith("#")} <= set(seen.ids)
    assert seen.text["worker-down"] == "worker-down"
    assert seen.text["bizcrit-escalations"] == "BizCrit escalations"
    _, body = runbooks.render("text/html")
    html = body.decode()
    assert "<table>" in html and "<code>sla_notifier_posts_total{result}</code>" in html  # tables and code render
    assert "<style>" in html and "###" not in html and html.count("<h3 id=") >= 15


@pytest.mark.parametrize("accept, kind", [
    ("text/markdown", "text/markdown; charset=utf-8"),
    ("text/markdown, */*;q=0.1", "text/markdown; charset=utf-8"),
    ("text/html,application/xhtml+xml,*/*;q=0.8", "text/html; charset=utf-8"),
    ("*/*", "text/html; charset=utf-8"),  # curl
    ("", "text/html; charset=utf-8"),
    ("text/markdown;q=0.5, text/html", "text/html; charset=utf-8"),
    ("text/html;q=0.2, text/*", "text/markdown; charset=utf-8"),
    ("text/markdown;q=0", "text/html; charset=utf-8"),
])
def test_markdown_is_served_as_before_to_clients_that_ask_for_it(accept: str, kind: str) -> None:
    served, body = runbooks.render(accept)
    assert served == kind
    if kind.startswith("text/markdown"):
        assert body == resources.read_bytes(resources.RUNBOOKS)
    else:
        assert body.startswith(b"<!doctype html>")


def test_a_heading_id_follows_githubs_rule() -> None:
    seen: dict[str, int] = {}
    assert [runbooks.anchor(t, seen) for t in ("Pipeline alerts", "irt-at-risk", "What's new?", "irt-at-risk")] == [
        "pipeline-alerts", "irt-at-risk", "whats-new", "irt-at-risk-1"]
