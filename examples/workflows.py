"""Workflows, worked through (docs/workflows.md): an onboarding chain, a report chord and an alert on failure.

Run it on the local runtime (moto in process, a fake clock) with ``.venv/bin/python -m examples.workflows``.
``examples/test_workflows_example.py`` runs it in CI, checks what it gives, and checks that the code
docs/workflows.md shows is this file's.
"""

from __future__ import annotations

from typing import Any

from squall import AsyncResult, GroupResult, Squall, chord, group, local

app = Squall("workflows", queues=["default", "reports"])


# --- onboarding: a chain -----------------------------------------------------------------------------------


@app.task
def create_account(email: str) -> str:
    """The first step: its result, the account id, is the next step's first argument."""
    return "acct-" + email.split("@")[0]


@app.task
def create_workspace(account_id: str, plan: str) -> dict[str, str]:
    return {"account": account_id, "workspace": f"{account_id}-ws", "plan": plan}


@app.task
def send_welcome(workspace: dict[str, str]) -> str:
    return f"welcome mail sent for {workspace['workspace']} ({workspace['plan']})"


@app.task
def log_signup(source: str) -> str:
    """Immutable in the chain (``.si``): it is not given the welcome step's result."""
    return f"signup from {source} logged"


def onboard(email: str) -> AsyncResult[Any] | GroupResult:
    """Four steps, one after another; the handle is the last step's, and ``.parent`` walks back."""
    flow = create_account.s(email) | create_workspace.s(plan="team") | send_welcome.s() | log_signup.si("web")
    return flow.delay()


# --- a monthly report: a chord (shards fetched in parallel, then merged once) -------------------------------


@app.task(queue="reports")
def fetch_shard(month: str, shard: int) -> dict[str, int]:
    """One shard of a month's orders (made up here from the shard's number)."""
    orders = 100 + shard
    return {"shard": shard, "orders": orders, "revenue_cents": orders * 2_500}


@app.task(queue="reports")
def merge_report(shards: list[dict[str, int]], month: str) -> dict[str, Any]:
    """The chord's body: every member's result in the header's order comes first, then its own arguments."""
    return {
        "month": month,
        "shards": [s["shard"] for s in shards],
        "orders": sum(s["orders"] for s in shards),
        "revenue_cents": sum(s["revenue_cents"] for s in shards),
    }


def monthly_report(month: str, shards: int = 8) -> AsyncResult[Any] | GroupResult:
    """Fetch every shard at once; merge them when the last one is in. The handle is the body's."""
    header = group(fetch_shard.s(month, n) for n in range(shards))
    return chord(header, merge_report.s(month=month)).delay()


# --- payments: callbacks on success (link) and on failure (link_error) -------------------------------------


class CardDeclined(Exception):
    """The payment provider refused the card: retrying will not help."""


@app.task(dont_autoretry_for=(CardDeclined,))
def charge(order_id: str, amount: int) -> str:
    if amount <= 0:
        raise CardDeclined(f"order {order_id}: amount {amount} cannot be charged")
    return f"charged {order_id}: {amount} cents"


@app.task
def email_receipt(receipt: str) -> str:
    """A success callback: given the charge's result first."""
    return f"receipt mailed ({receipt})"


@app.task
def page_oncall(failed_task_id: str, channel: str) -> str:
    """An error callback: given the DEAD task's id first, it reads why from that task's record."""
    record = app.AsyncResult(failed_task_id).record
    reason = record.reason if record is not None else "no record"
    return f"{channel}: task {failed_task_id} is DEAD: {reason}"


def charge_or_page(order_id: str, amount: int) -> AsyncResult[str]:
    """Charge; mail the receipt if it succeeds, page on-call if it is DEAD (one page per order: a fixed id)."""
    return charge.apply_async(
        (order_id, amount),
        link=email_receipt.s().set(task_id=f"receipt-{order_id}"),
        link_error=page_oncall.s(channel="#payments").set(task_id=f"page-{order_id}"),
    )


# --- running it --------------------------------------------------------------------------------------------


def main() -> None:
    """Send the three workflows on the local runtime, run everything, print what each gave."""
    with local.run(app) as rt:
        welcome = onboard("ada@example.com")
        report = monthly_report("2026-11")
        paid = charge_or_page("o-1", 4_200)
        declined = charge_or_page("o-2", 0)
        rt.drain()

        print("onboarding:", welcome.get(timeout=0))
        print("report:", report.get(timeout=0))
        print("charge o-1:", paid.get(timeout=0), "/", app.AsyncResult("receipt-o-1").get(timeout=0))
        print("charge o-2:", declined.state, "/", app.AsyncResult("page-o-2").get(timeout=0))


if __name__ == "__main__":
    main()
