"""The query language as Intuit documents it, each form in several letter cases."""

from __future__ import annotations

import time

import pytest

from .conftest import Sandbox


@pytest.fixture
def people(ready: Sandbox) -> Sandbox:
    for name, email in (("Alpha Co", "a@x.io"), ("Beta Co", "b@x.io"), ("Gamma Ltd", None)):
        extra = {"PrimaryEmailAddr": {"Address": email}} if email else {}
        ready.customer(name, **extra)
    return ready


CASES = {
    "entity and keyword case": (
        [
            "SELECT * FROM Customer",
            "select * from customer",
            "Select * From CUSTOMER",
            "sElEcT * fRoM cUsToMeR",
        ],
        ["Alpha Co", "Beta Co", "Gamma Ltd"],
    ),
    "field name case": (
        [
            "SELECT * FROM Customer WHERE DisplayName = 'Beta Co'",
            "SELECT * FROM Customer WHERE displayname = 'Beta Co'",
            "SELECT * FROM Customer WHERE DISPLAYNAME = 'beta co'",
        ],
        ["Beta Co"],
    ),
    "nested field case": (
        [
            "SELECT * FROM Customer WHERE PrimaryEmailAddr.Address = 'a@x.io'",
            "select * from customer where primaryemailaddr.address = 'A@X.IO'",
        ],
        ["Alpha Co"],
    ),
    "IN": (
        [
            "SELECT * FROM Customer WHERE DisplayName IN ('Alpha Co', 'Gamma Ltd')",
            "select * from customer where displayname in ('alpha co','gamma ltd')",
        ],
        ["Alpha Co", "Gamma Ltd"],
    ),
    "LIKE": (
        [
            "SELECT * FROM Customer WHERE DisplayName LIKE '%Co'",
            "select * from customer where DisplayName like '%co'",
            "SELECT * FROM Customer WHERE displayName LIKE 'b%'",
        ],
        None,
    ),
    "ORDERBY DESC": (
        [
            "SELECT * FROM Customer ORDERBY DisplayName DESC",
            "select * from customer orderby displayname desc",
            "select * from customer order by DisplayName DESC",
        ],
        ["Gamma Ltd", "Beta Co", "Alpha Co"],
    ),
    "STARTPOSITION and MAXRESULTS": (
        [
            "SELECT * FROM Customer ORDERBY DisplayName STARTPOSITION 2 MAXRESULTS 1",
            "select * from customer orderby displayname startposition 2 maxresults 1",
        ],
        ["Beta Co"],
    ),
    "null as a space": (
        ["SELECT * FROM Customer WHERE PrimaryEmailAddr.Address = ' '"],
        ["Gamma Ltd"],
    ),
}


@pytest.mark.parametrize("form", list(CASES))
def test_each_documented_query_form_reads_alike_in_any_letter_case(people: Sandbox, form: str) -> None:
    queries, expected = CASES[form]
    answers = [[c["DisplayName"] for c in people.query(q).get("Customer", [])] for q in queries]
    if expected is None:  # LIKE: the two '%Co' spellings agree, 'b%' finds Beta
        assert answers[0] == answers[1] == ["Alpha Co", "Beta Co"] and answers[2] == ["Beta Co"]
    else:
        assert all(a == expected for a in answers), answers


def test_count_reads_alike_in_any_letter_case(people: Sandbox) -> None:
    for q in ("SELECT COUNT(*) FROM Customer", "select count(*) from customer", "Select Count(*) From Customer"):
        assert people.query(q) == {"totalCount": 3}
    assert people.query("select count(*) from customer where displayname like '%co'") == {"totalCount": 2}


def test_metadata_last_updated_time_is_the_same_field_in_any_spelling(people: Sandbox) -> None:
    first = people.query("SELECT * FROM Customer ORDERBY Id")["Customer"][0]
    time.sleep(1.1)
    later = people.customer("Delta Co")
    stamp = first["MetaData"]["LastUpdatedTime"]
    spellings = (
        "MetaData.LastUpdatedTime",
        "Metadata.LastUpdatedTime",
        "metadata.lastupdatedtime",
        "METADATA.LASTUPDATEDTIME",
    )
    for field in spellings:
        rows = people.query(f"SELECT * FROM Customer WHERE {field} > '{stamp}'")["Customer"]
        assert [r["Id"] for r in rows] == [later["Id"]], field
        assert people.query(f"select count(*) from customer where {field} >= '{stamp}'")["totalCount"] == 4
    ordered = people.query("select * from customer orderby metadata.lastupdatedtime desc maxresults 1")["Customer"]
    assert ordered[0]["Id"] == later["Id"]


def test_every_comparison_operator_works_on_amounts_and_dates(ready: Sandbox) -> None:
    c = ready.customer("Ops Co")
    for amount, day in (("10.00", "2024-01-05"), ("20.00", "2024-02-05"), ("30.00", "2024-03-05")):
        ready.invoice(c["Id"], amount, TxnDate=day)
    expect = {"=": [20], "<": [10], ">": [30], "<=": [10, 20], ">=": [20, 30]}
    for op, totals in expect.items():
        rows = ready.query(f"select * from invoice where TotalAmt {op} '20' orderby TotalAmt")["Invoice"]
        assert [r["TotalAmt"] for r in rows] == totals, op
    rows = ready.query("SELECT * FROM Invoice WHERE TxnDate >= '2024-02-01' AND txndate < '2024-03-01'")["Invoice"]
    assert [r["TxnDate"] for r in rows] == ["2024-02-05"]
    assert ready.query(f"select * from invoice where customerref = '{c['Id']}' maxresults 2")["maxResults"] == 2


def test_an_unknown_entity_is_a_parse_error_whatever_its_case(ready: Sandbox) -> None:
    for q in ("SELECT * FROM Widget", "select * from widget"):
        err = ready.fault("GET", "query", params={"query": q})
        assert err["code"] == "4000" and "Invalid entity name" in err["Detail"]
