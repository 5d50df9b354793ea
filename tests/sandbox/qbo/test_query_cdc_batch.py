"""Query language subset, CDC window/limits/tombstones, and batch semantics."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from .conftest import Sandbox


def _customers(s: Sandbox, n: int) -> list[dict[str, object]]:
    items = [{"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"Cust {i:03d}"}} for i in range(n)]
    out = []
    for start in range(0, n, 30):
        body = s.ok("POST", "batch", {"BatchItemRequest": items[start : start + 30]})
        out.extend(r["Customer"] for r in body["BatchItemResponse"])
    return out


def test_query_operators_paging_and_order(ready: Sandbox) -> None:
    cs = _customers(ready, 12)
    q = ready.query("select * from Customer where DisplayName LIKE 'Cust 00%' ORDERBY DisplayName DESC")
    assert [c["DisplayName"] for c in q["Customer"]] == [f"Cust {i:03d}" for i in range(9, -1, -1)]
    assert q["startPosition"] == 1 and q["maxResults"] == 10
    ids = [str(cs[1]["Id"]), str(cs[3]["Id"])]
    q = ready.query(f"SELECT * FROM Customer WHERE Id IN ('{ids[0]}', '{ids[1]}')")
    assert sorted(c["Id"] for c in q["Customer"]) == sorted(ids)
    q = ready.query("SELECT * FROM Customer STARTPOSITION 5 MAXRESULTS 3")
    assert [c["DisplayName"] for c in q["Customer"]] == ["Cust 004", "Cust 005", "Cust 006"]
    assert q["startPosition"] == 5
    assert ready.query("SELECT COUNT(*) FROM Customer WHERE DisplayName >= 'Cust 010'") == {"totalCount": 2}
    assert ready.query("SELECT * FROM Customer WHERE DisplayName = 'nobody'") == {}
    # POST with Content-Type: application/text
    r = ready.http.post(
        f"{ready.url}/v3/company/{ready.realm}/query",
        content=b"SELECT * FROM Customer WHERE DisplayName = 'cust 002'",
        headers={**ready.headers(), "Content-Type": "application/text"},
    )
    assert [c["DisplayName"] for c in r.json()["QueryResponse"]["Customer"]] == ["Cust 002"]


def test_query_max_1000_and_inactive_excluded(ready: Sandbox) -> None:
    ready.control("PUT", "/config", {"max_query_results": 5})
    _customers(ready, 8)
    assert ready.query("SELECT * FROM Customer MAXRESULTS 1000")["maxResults"] == 5
    ready.control("PUT", "/config", {"max_query_results": 1000})
    c = ready.query("SELECT * FROM Customer WHERE DisplayName = 'Cust 001'")["Customer"][0]
    ready.ok("POST", "customer", {"Id": c["Id"], "SyncToken": c["SyncToken"], "sparse": True, "Active": False})
    assert ready.query("SELECT COUNT(*) FROM Customer") == {"totalCount": 7}
    assert ready.query("SELECT COUNT(*) FROM Customer WHERE Active IN (true, false)") == {"totalCount": 8}
    only = ready.query("SELECT * FROM Customer WHERE Active = false")["Customer"]
    assert [x["Id"] for x in only] == [c["Id"]]


def test_query_last_updated_time(ready: Sandbox) -> None:
    a = ready.customer("Early")
    time.sleep(1.1)
    stamp = ready.ok("GET", f"customer/{a['Id']}")["Customer"]["MetaData"]["LastUpdatedTime"]
    b = ready.customer("Late")
    got = ready.query(f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime > '{stamp}'")["Customer"]
    assert [c["Id"] for c in got] == [b["Id"]]
    got = ready.query(f"SELECT * FROM Customer WHERE MetaData.LastUpdatedTime >= '{stamp}'")["Customer"]
    assert sorted(c["Id"] for c in got) == sorted([a["Id"], b["Id"]])


def test_malformed_query_is_query_parser_error(ready: Sandbox) -> None:
    for bad in (
        "SELECT * FROM Customer WHERE",
        "SELEC * FROM Customer",
        "SELECT * FROM Customer WHERE Name = 'x' OR Id = '1'",
        "",
    ):
        err = ready.fault("GET", "query", params={"query": bad})
        assert err["code"] == "4000" and err["Message"] == "Error parsing query"
        assert err["Detail"].startswith("QueryParserError: ")
    err = ready.fault("GET", "query", params={"query": "SELECT * FROM Customer WHERE Name = %"})
    assert "Lexical error" in err["Detail"]


def test_cdc_shape_deleted_and_window(ready: Sandbox) -> None:
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    c = ready.customer("CDC Co")
    inv = ready.invoice(c["Id"], "9.00")
    ready.ok("POST", "invoice", {"Id": inv["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    body = ready.ok("GET", "cdc", params={"entities": "Customer,Invoice,Class", "changedSince": since})
    qr = body["CDCResponse"][0]["QueryResponse"]
    assert [x["DisplayName"] for x in qr[0]["Customer"]] == ["CDC Co"]
    deleted = qr[1]["Invoice"][0]
    assert deleted["Id"] == inv["Id"] and deleted["status"] == "Deleted" and deleted["domain"] == "QBO"
    assert "LastUpdatedTime" in deleted["MetaData"]
    assert qr[2] == {}
    old = (datetime.now(UTC) - timedelta(days=31)).isoformat(timespec="seconds")
    err = ready.fault("GET", "cdc", params={"entities": "Customer", "changedSince": old})
    assert "older than fixed days is not supported" in err["Detail"]


def test_cdc_caps_total_objects(ready: Sandbox) -> None:
    ready.control("PUT", "/config", {"cdc_max_objects": 4})
    since = (datetime.now(UTC) - timedelta(minutes=1)).isoformat(timespec="seconds")
    _customers(ready, 3)
    ready.ok("POST", "class", {"Name": "Gadget"})
    ready.ok("POST", "class", {"Name": "Gizmo"})
    qr = ready.ok("GET", "cdc", params={"entities": "Customer,Class", "changedSince": since})["CDCResponse"][0][
        "QueryResponse"
    ]
    assert len(qr[0]["Customer"]) + len(qr[1]["Class"]) == 4
    assert [i["Name"] for i in qr[1]["Class"]] == ["Gadget"]  # oldest changes first


def test_batch_semantics(ready: Sandbox) -> None:
    c = ready.customer("Existing")
    body = {
        "BatchItemRequest": [
            {"bId": "a", "operation": "create", "Customer": {"DisplayName": "New In Batch"}},
            {"bId": "b", "Query": "SELECT * FROM Customer WHERE DisplayName = 'New In Batch'"},
            {"bId": "c", "operation": "create", "Invoice": {"CustomerRef": {"value": str(int(c["Id"]) + 1)}}},
            {
                "bId": "d",
                "operation": "update",
                "Customer": {"Id": c["Id"], "SyncToken": "0", "sparse": True, "Notes": "x"},
            },
            {"bId": "e", "operation": "create", "Customer": {"DisplayName": "Existing"}},
        ]
    }
    res = {r["bId"]: r for r in ready.ok("POST", "batch", body)["BatchItemResponse"]}
    new_id = res["a"]["Customer"]["Id"]
    assert new_id == str(int(c["Id"]) + 1)
    assert res["b"]["QueryResponse"] == {}  # not visible to later items of the same batch
    assert res["c"]["Fault"]["Error"][0]["code"] == "2500"
    assert res["d"]["Customer"]["Notes"] == "x"
    assert res["e"]["Fault"]["Error"][0]["code"] == "6240" and res["e"]["Fault"]["type"] == "ValidationFault"
    assert ready.ok("GET", f"customer/{new_id}")["Customer"]["DisplayName"] == "New In Batch"
    too_many = {"BatchItemRequest": [{"bId": str(i), "Query": "SELECT * FROM Item"} for i in range(31)]}
    err = ready.fault("POST", "batch", too_many)
    assert err["code"] == "6000" and "maximum is 30" in err["Detail"]


def test_preferences_are_queryable_for_the_home_currency(ready: Sandbox) -> None:
    q = ready.query("select * from Preferences")
    (prefs,) = q["Preferences"]
    assert prefs["CurrencyPrefs"]["HomeCurrency"]["value"] == "USD"
    assert prefs["CurrencyPrefs"]["MultiCurrencyEnabled"] is False
