"""One unit of work per use case: every DynamoDB write of the use case, committed at once.

A use case adds what it does to each item (SET / ADD / REMOVE fields and conditions, or a whole update
expression, puts, deletes, condition checks, the Idempotency-Key completion, outbox event puts) and commits:
- several changes to one item become one operation (TransactWriteItems refuses two operations on one item),
  so e.g. a conversion's counters and its payout's counters on the same item simply add up;
- one operation is one single-item write (PutItem / UpdateItem / DeleteItem), more are one TransactWriteItems:
  one request either way, the floor;
- each operation may register how to explain its own failed condition (``explain(old_item)`` returns the typed
  domain error, or None when the old item does not explain it), and a cancellation raises the first
  explanation in the order the operations were added. What nothing explains is raised as TransactionCancelled
  (``keys`` and ``failed_keys()`` tell which items failed), or ``otherwise(e)``'s error when commit got one.

Placeholders: structured changes use ``#s0 / :s0`` (SET), ``#a0 / :a0`` (ADD), ``#r0`` (REMOVE); conditions
and whole expressions bring their own (``:c_...`` by convention). Two different values under one placeholder
of one item are refused, never silently merged.
"""
from __future__ import annotations

from typing import Any
from collections.abc import Callable

from .dynamo import ConditionFailed, Table, TransactionCancelled, key, request_token, to_av, values

Key = tuple[str, str]
Explain = Callable[[Any], Exception | None]  # old item (dict | None) -> the domain error, or None


class _Item:
    __slots__ = ("add", "cond", "explain", "expression", "names", "op", "remove", "set", "vals")

    def __init__(self) -> None:
        self.set: dict[str, Any] = {}
        self.add: dict[str, int] = {}
        self.remove: list[str] = []
        self.expression: str | None = None  # a whole update expression (then no structured changes)
        self.cond: list[str] = []
        self.names: dict[str, str] = {}
        self.vals: dict[str, dict] = {}
        self.explain: list[Explain] = []
        self.op: dict | None = None  # a whole Put / Delete / Update / ConditionCheck transaction item

    def structured(self) -> bool:
        return bool(self.set or self.add or self.remove)


def _enclosed(expression: str) -> bool:
    """Whether the whole expression is one parenthesised group (DynamoDB refuses redundant parentheses)."""
    if not expression.startswith("("):
        return False
    depth = 0
    for i, ch in enumerate(expression):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return i == len(expression) - 1
    return False


def op_key(op: dict) -> Key:
    (kind, body), = op.items()
    k = body["Item"] if kind == "Put" else body["Key"]
    return k["pk"]["S"], k["sk"]["S"]


class UnitOfWork:
    def __init__(self, table: Table):
        self.table = table
        self._items: dict[Key, _Item] = {}
        self._hooks: list[Callable[[UnitOfWork], None]] = []
        self._after: list[Callable[[], None]] = []
        self.result: Any = None  # the use case's answer, for hooks that store it (the Idempotency-Key)

    # --- collecting -------------------------------------------------------------------------------------

    def _item(self, k: Key) -> _Item:
        it = self._items.get(k)
        if it is None:
            it = self._items[k] = _Item()
        return it

    def _merge(self, it: _Item, k: Key, names: dict | None, vals: dict | None) -> None:
        for src, dst in ((names or {}, it.names), (vals or {}, it.vals)):
            for p, v in src.items():
                if p in dst and dst[p] != v:
                    raise ValueError(f"placeholder {p} of {k} given two values")
                dst[p] = v

    def _whole(self, k: Key) -> _Item:
        it = self._item(k)
        if it.op is not None or it.expression is not None or it.structured():
            raise ValueError(f"two writes to {k} that cannot be merged")
        return it

    def set(self, k: Key, **fields: Any) -> UnitOfWork:
        it = self._item(k)
        if it.op is not None or it.expression is not None:
            raise ValueError(f"two writes to {k} that cannot be merged")
        it.set.update({f: v for f, v in fields.items() if v is not None})
        return self

    def add(self, k: Key, **fields: int) -> UnitOfWork:
        it = self._item(k)
        if it.op is not None or it.expression is not None:
            raise ValueError(f"two writes to {k} that cannot be merged")
        for f, v in fields.items():
            if v:
                it.add[f] = it.add.get(f, 0) + v
        return self

    def remove(self, k: Key, *fields: str) -> UnitOfWork:
        it = self._item(k)
        if it.op is not None or it.expression is not None:
            raise ValueError(f"two writes to {k} that cannot be merged")
        it.remove.extend(f for f in fields if f not in it.remove)
        return self

    def cond(self, k: Key, expression: str, names: dict | None = None, explain: Explain | None = None,
             **vals: Any) -> UnitOfWork:
        """A condition on the item, ANDed with the item's other conditions (placeholders ``:c_...``)."""
        return self.check(k, expression, names, values(**vals) if vals else None, explain)

    def check(self, k: Key, condition: str, names: dict | None = None, vals: dict | None = None,
              explain: Explain | None = None) -> UnitOfWork:
        """Like cond, with attribute-value placeholders already encoded (``values(...)``)."""
        it = self._item(k)
        if it.op is not None:
            raise ValueError(f"a condition on {k}, which a whole put/delete writes")
        it.cond.append(condition)
        self._merge(it, k, names, vals)
        if explain is not None:
            it.explain.append(explain)
        return self

    def update(self, k: Key, expression: str, condition: str | None = None, names: dict | None = None,
               vals: dict | None = None, explain: Explain | None = None) -> UnitOfWork:
        """A whole update expression for the item (for what SET/ADD/REMOVE of plain values cannot say, e.g.
        if_not_exists). Conditions added by ``cond``/``check`` still merge with it."""
        it = self._item(k)
        if it.op is not None or it.expression is not None or it.structured():
            raise ValueError(f"two writes to {k} that cannot be merged")
        it.expression = expression
        if condition:
            it.cond.append(condition)
        self._merge(it, k, names, vals)
        if explain is not None:
            it.explain.append(explain)
        return self

    def put(self, item: dict, condition: str | None = "attribute_not_exists(pk)", names: dict | None = None,
            vals: dict | None = None, explain: Explain | None = None, first: bool = False) -> UnitOfWork:
        return self.op(self.table.put_op(item, condition, names, vals), explain, first)

    def delete(self, k: Key, condition: str | None = "attribute_exists(pk)", names: dict | None = None,
               vals: dict | None = None, explain: Explain | None = None) -> UnitOfWork:
        body: dict[str, Any] = {"TableName": self.table.name, "Key": key(*k)}
        self.table._conditional(body, condition, names, vals)
        return self.op({"Delete": body}, explain)

    def op(self, op: dict, explain: Explain | None = None, first: bool = False) -> UnitOfWork:
        """A transaction item built elsewhere (an outbox event's put, the Idempotency-Key completion).
        ``first``: its failure is explained before the others' (e.g. a consumer's marker: a duplicate event)."""
        k = op_key(op)
        it = self._whole(k)
        if it.cond:
            raise ValueError(f"a whole write to {k}, which has conditions already")
        it.op = op
        if explain is not None:
            it.explain.append(explain)
        if first:
            self._items = {k: it, **{o: v for o, v in self._items.items() if o != k}}
        return self

    def on_commit(self, hook: Callable[[UnitOfWork], None]) -> UnitOfWork:
        """``hook(self)`` runs at each commit, e.g. to add the Idempotency-Key completion that stores
        ``self.result``. A hook adds items of its own (they are dropped after the commit, so a decided-again
        attempt gets them afresh); it does not change items the use case wrote."""
        self._hooks.append(hook)
        return self

    def after_commit(self, fn: Callable[[], None]) -> UnitOfWork:
        self._after.append(fn)
        return self

    def clear(self) -> UnitOfWork:
        """Forget the collected writes (not the hooks): the use case decides again after a stale read."""
        self._items.clear()
        self.result = None
        return self

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, k: Key) -> bool:
        return k in self._items

    # --- building and committing ------------------------------------------------------------------------

    def ops(self) -> tuple[list[dict], list[Key]]:
        """The transaction items and the key each writes, in the order the items were first touched (without
        what the on_commit hooks add)."""
        out: list[dict] = []
        order: list[Key] = []
        for k, it in self._items.items():
            op = it.op if it.op is not None else self._build(k, it)
            if op is not None:
                out.append(op)
                order.append(k)
        return out, order

    def _build(self, k: Key, it: _Item) -> dict | None:
        names, vals = dict(it.names), dict(it.vals)
        if len(it.cond) == 1:
            condition: str | None = it.cond[0]
        else:
            condition = " AND ".join(c if _enclosed(c) else f"({c})" for c in it.cond) or None
        if it.expression is not None:
            expression = it.expression
        else:
            parts = []
            for clause, fields, p, sep in (("SET", it.set, "s", " = "), ("ADD", it.add, "a", " ")):
                if fields:
                    terms = []
                    for i, (f, v) in enumerate(fields.items()):
                        names[f"#{p}{i}"], vals[f":{p}{i}"] = f, to_av(v)
                        terms.append(f"#{p}{i}{sep}:{p}{i}")
                    parts.append(f"{clause} " + ", ".join(terms))
            if it.remove:
                for i, f in enumerate(it.remove):
                    names[f"#r{i}"] = f
                parts.append("REMOVE " + ", ".join(f"#r{i}" for i in range(len(it.remove))))
            expression = " ".join(parts)
        if expression:
            return self.table.update_op(*k, expression, condition, names or None, vals or None)
        if condition:
            return self.table.condition_op(*k, condition, names or None, vals or None)
        return None

    def commit(self, token: str | None = None,
               otherwise: Callable[[TransactionCancelled], Exception] | None = None) -> None:
        """Writes everything at once. ``token`` (ClientRequestToken) makes botocore's own retry of the request
        a no-op; with a token even one operation goes as a transaction, since a retried UpdateItem with ADD
        would count twice."""
        before = set(self._items)
        try:
            for hook in self._hooks:
                hook(self)
            self._commit(token, otherwise)
        finally:  # what the hooks added belongs to this attempt only
            for k in [k for k in self._items if k not in before]:
                del self._items[k]

    def _commit(self, token: str | None, otherwise: Callable[[TransactionCancelled], Exception] | None) -> None:
        ops, order = self.ops()
        if not ops:
            return
        try:
            if len(ops) == 1 and token is None and "ConditionCheck" not in ops[0]:
                try:
                    self.table.write_one(ops[0])
                except ConditionFailed as e:
                    raise TransactionCancelled(["ConditionalCheckFailed"], [e.item]) from None
            else:
                self.table.transact(ops, token=token)
        except TransactionCancelled as e:
            e.keys = order
            for i, k in enumerate(order):
                if e.failed(i):
                    for explain in self._items[k].explain:
                        err = explain(e.items[i])
                        if err is not None:
                            raise err from None
            if otherwise is not None:
                raise otherwise(e) from None
            raise
        for fn in self._after:
            fn()


def always(error: Callable[[], Exception]) -> Explain:
    """An explanation that does not need the old item."""
    return lambda _old: error()


def contended(e: TransactionCancelled) -> Exception:
    """``commit(otherwise=contended)``: a cancellation no condition of the use case explains (another
    transaction kept winning) is the domain's Contention (503 with Retry-After), naming the reasons."""
    from ..domain import errors

    return errors.Contention(details={"reasons": e.reasons})


class NotApplied(Exception):
    """Raised by an explanation: the write's condition failed because its work is done already (a repeat or a
    concurrent writer changed or deleted the item first): nothing to do, nothing to count."""


def commit_counted(uow: UnitOfWork, token: str | None = None) -> int:
    """Commits ``uow`` with a ClientRequestToken, as a transaction even when it is one operation, so a write
    whose answer was lost after it applied is recognised on the re-send instead of failing its own condition
    (and its ADDs are not applied twice). 1: applied now; 0: an explanation raised NotApplied."""
    try:
        uow.commit(token=token or request_token())
    except NotApplied:
        return 0
    return 1


class ReadAgain(Exception):
    """Raised by an explanation: what the write was decided on changed; ``item`` is the next read."""

    def __init__(self, item: Any):
        super().__init__("read again")
        self.item = item


class Gone(Exception):
    """Raised by an explanation: the item was moved or deleted by someone else; nothing is left to do."""


def move_over_read(table: Table, k: Key, read: dict | None, decided_on: Callable[[dict], dict],
                   write: Callable[[UnitOfWork, dict], None], what: str,
                   token: Callable[[], str] | None = None) -> int:
    """Deletes item ``k`` on condition that the fields it was decided on (``decided_on(read)``; None: absent) are
    still as read, together with what ``write(uow, read)`` adds (the moved copy), in one commit. A changed item
    is decided again from the cancellation's old image, under the retry policy. 1: moved now; 0: it was gone
    (deleted before, or an explanation raised Gone). ``token``: a new ClientRequestToken per attempt (each attempt
    is its own write), so botocore's retry of an attempt whose answer was lost is a no-op, not a failed condition."""
    from ..domain import errors
    from .retry import ERASURE

    for _ in ERASURE.attempts():
        if read is None:
            return 0
        conds, names, vals = ["attribute_exists(pk)"], {}, {}
        for i, (f, v) in enumerate(decided_on(read).items()):
            names[f"#m{i}"] = f
            if v is None:
                conds.append(f"attribute_not_exists(#m{i})")
            else:
                conds.append(f"#m{i} = :m{i}")
                vals[f":m{i}"] = to_av(v)
        uow = UnitOfWork(table)
        uow.delete(k, " AND ".join(conds), names or None, vals or None, explain=ReadAgain)
        try:
            write(uow, read)
            uow.commit(token=token() if token else None,
                       otherwise=contended)
            return 1
        except ReadAgain as e:
            read = e.item
        except Gone:
            return 0
    raise errors.Contention(f"{what} kept changing; retry")
