"""Cross-section rules: what one section says must agree with the others.

Each rule is a small function returning diagnostics; `crosscheck` runs them all
so a user sees every problem in one compile.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

from mlwright.contract.metrics import concept_metrics_for, metrics_for

from .compose import ENV_REF
from .diagnostics import Diagnostic, did_you_mean, dotted
from .expressions import ExpressionError, parse_expression
from .load import Document, KeyPath
from .paths import PathProblem, check_output_path, check_source_uri
from .spec import BACKEND_PARAMS, K8S_NAME, SECRET_KEY, DicomSource, SystemSpec
from .units import share

DICOM_COLUMNS = ("path", "rows", "columns", "pixel_mean", "pixel_std")

Rule = Callable[[SystemSpec, Document, Path | None], Iterator[Diagnostic]]


def crosscheck(spec: SystemSpec, doc: Document, root: Path | None) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in RULES:
        out.extend(rule(spec, doc, root))
    return out


def _at(doc: Document, path: KeyPath, message: str, *hints: str) -> Diagnostic:
    return Diagnostic(doc.position(path), dotted(path), message, tuple(h for h in hints if h))


def _guess(word: str, choices: list[str]) -> str:
    g = did_you_mean(word, choices)
    return f"did you mean '{g}'?" if g else ""


def source_columns(spec: SystemSpec) -> dict[str, set[str]]:
    """The columns each source exposes: its declared schema, plus DICOM summaries."""
    out: dict[str, set[str]] = {}
    for src in spec.data.sources:
        cols = set(spec.expectations.schema_.get(src.name, {}))
        if isinstance(src, DicomSource):
            cols |= set(src.metadata) | set(DICOM_COLUMNS)
        out[src.name] = cols
    return out


def unique_names(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    for kind, names in (
        ("sources", [s.name for s in spec.data.sources]),
        ("definitions", [f.name for f in spec.features.definitions]),
    ):
        seen: set[str] = set()
        section = ("data", "sources") if kind == "sources" else ("features", "definitions")
        for i, name in enumerate(names):
            if name in seen:
                yield _at(doc, (*section, i, "name"), f"duplicate name '{name}'")
            seen.add(name)


def renames(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """One identifier per file column and source; one meaning per file column overall."""
    meaning: dict[str, str] = {}
    for i, src in enumerate(spec.data.sources):
        targets: dict[str, str] = {}
        for raw, new in getattr(src, "rename", {}).items():
            where = ("data", "sources", i, "rename", raw)
            if new in targets:
                yield _at(doc, where, f"'{raw}' and '{targets[new]}' are both renamed to '{new}'")
            elif meaning.get(raw, new) != new:
                yield _at(
                    doc,
                    where,
                    f"'{raw}' is renamed to '{new}' here and to '{meaning[raw]}' in another source",
                    "batch files for the endpoint are renamed with one map: give the column one name",
                )
            targets[new] = raw
            meaning.setdefault(raw, new)


def schema_sources(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    names = [s.name for s in spec.data.sources]
    for table in spec.expectations.schema_:
        if table not in names:
            yield _at(
                doc,
                ("expectations", "schema", table),
                f"unknown source '{table}'",
                _guess(table, names),
                f"known sources: {', '.join(names)}",
            )
    for table, columns in spec.expectations.schema_.items():
        for col, cs in columns.items():
            path = ("expectations", "schema", table, col)
            if cs.min is not None and cs.max is not None and cs.min > cs.max:
                yield _at(doc, (*path, "min"), f"min {cs.min} is above max {cs.max}")
            if cs.values is not None and cs.type not in ("category", "string"):
                yield _at(doc, (*path, "values"), f"allowed values need type category or string, not {cs.type}")
            if (cs.min is not None or cs.max is not None) and cs.type not in ("int", "float"):
                yield _at(doc, path, f"min/max need type int or float, not {cs.type}")
            for other in cs.unique_with or []:
                if other not in columns:
                    yield _at(
                        doc,
                        (*path, "unique_with"),
                        f"unknown column '{other}' in source '{table}'",
                        _guess(other, list(columns)),
                    )


def target_and_keys(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    p = spec.spec
    holders = [t for t, cols in spec.expectations.schema_.items() if p.target in cols]
    if not holders:
        yield _at(
            doc,
            ("spec", "target"),
            f"target '{p.target}' is not a column of any source in expectations.schema",
            "declare it, e.g. expectations.schema.<source>.<target>: {type: bool}",
        )
    else:
        cols = spec.expectations.schema_[holders[0]]
        if p.entity not in cols:
            yield _at(
                doc,
                ("spec", "entity"),
                f"entity '{p.entity}' is not a column of '{holders[0]}', the source holding the target",
            )
        if p.timestamp and p.timestamp not in cols:
            yield _at(
                doc,
                ("spec", "timestamp"),
                f"timestamp '{p.timestamp}' is not a column of '{holders[0]}', the source holding the target",
            )
        elif p.timestamp and cols[p.timestamp].type != "timestamp":
            yield _at(doc, ("spec", "timestamp"), f"column '{p.timestamp}' must have type timestamp")
        kind = cols[p.target].type
        if p.task == "binary_classification" and kind not in ("bool", "int", "category", "string"):
            yield _at(doc, ("spec", "target"), f"a binary target must be bool, int or category, not {kind}")
        if p.task == "multiclass_classification" and kind not in ("int", "category", "string"):
            yield _at(doc, ("spec", "target"), f"a multiclass target must be int, category or string, not {kind}")
        if p.task == "regression" and kind not in ("int", "float"):
            yield _at(doc, ("spec", "target"), f"a regression target must be int or float, not {kind}")
    if spec.features.entity != p.entity:
        yield _at(doc, ("features", "entity"), f"'{spec.features.entity}' differs from spec.entity '{p.entity}'")
    if spec.features.timestamp is not None and spec.features.timestamp != p.timestamp:
        yield _at(
            doc, ("features", "timestamp"), f"'{spec.features.timestamp}' differs from spec.timestamp '{p.timestamp}'"
        )


def inputs_known(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    features = [f.name for f in spec.features.definitions]
    allowed = set(features) | {spec.spec.entity} | ({"image"} if spec.features.image else set())
    written = doc.data.get("features") if isinstance(doc.data, dict) else None
    derived = not (isinstance(written, dict) and "definitions" in written)
    for i, name in enumerate(spec.spec.inputs):
        if name not in allowed:
            holders = [src for src, cols in source_columns(spec).items() if name in cols]
            yield _at(
                doc,
                ("spec", "inputs", i),
                f"input '{name}' is not a feature, the entity or an image",
                _guess(name, sorted(allowed)),
                (
                    f"without a features section each input is read from the one source declaring it; "
                    f"'{name}' is declared by {', '.join(holders) if holders else 'no source'}: "
                    "declare it in expectations.schema, or write features.definitions"
                )
                if derived
                else "",
            )
    if spec.spec.target in spec.spec.inputs:
        yield _at(doc, ("spec", "inputs"), f"the target '{spec.spec.target}' cannot be a request input")
    if len(set(spec.spec.inputs)) != len(spec.spec.inputs):
        yield _at(doc, ("spec", "inputs"), "inputs must not repeat")


def feature_expressions(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    columns = source_columns(spec)
    names = sorted(columns)
    for i, f in enumerate(spec.features.definitions):
        here = ("features", "definitions", i)
        if f.from_ not in columns:
            yield _at(
                doc,
                (*here, "from"),
                f"unknown source '{f.from_}'",
                _guess(f.from_, names),
                f"known sources: {', '.join(names)}",
            )
            continue
        if f.name == spec.spec.target:
            yield _at(doc, (*here, "name"), "a feature must not be named like the target")
        try:
            parsed = parse_expression(f.expr)
        except ExpressionError as exc:
            yield _at(doc, (*here, "expr"), str(exc))
            continue
        known = columns[f.from_]
        if not known:
            yield _at(doc, (*here, "from"), f"source '{f.from_}' has no columns declared in expectations.schema")
            continue
        for col in parsed.columns:
            if col not in known:
                yield _at(
                    doc,
                    (*here, "expr"),
                    f"unknown column '{col}' in source '{f.from_}'",
                    _guess(col, sorted(known)),
                    f"columns of '{f.from_}': {', '.join(sorted(known))}",
                )
        if f.window is None and parsed.aggregate:
            yield _at(doc, (*here, "expr"), "an aggregation needs a `window` (and `time_column`)")
        if f.window is not None:
            if not parsed.aggregate:
                yield _at(
                    doc,
                    (*here, "window"),
                    "a windowed feature needs an aggregate expression such as sum(...) or count(*)",
                )
            if f.time_column is None:
                yield _at(doc, (*here, "window"), "a window aggregation requires `time_column`")
            elif f.time_column not in known:
                yield _at(
                    doc,
                    (*here, "time_column"),
                    f"unknown column '{f.time_column}' in source '{f.from_}'",
                    _guess(f.time_column, sorted(known)),
                )
            if spec.spec.timestamp is None:
                yield _at(doc, (*here, "window"), "window aggregations need spec.timestamp (point-in-time joins)")
            if spec.spec.entity not in known:
                yield _at(
                    doc,
                    (*here, "from"),
                    f"source '{f.from_}' has no entity column '{spec.spec.entity}' to aggregate by",
                )
        if f.encoding != "none" and parsed.aggregate:
            yield _at(doc, (*here, "encoding"), "only row-level features can be encoded as categories")


def label_source_of(spec: SystemSpec) -> str | None:
    return next((t for t, cols in spec.expectations.schema_.items() if spec.spec.target in cols), None)


def joined_sources(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """Each training row takes other sources' values as of its own time, or from a
    source with one row per entity; a join that could fan out or see the future is
    refused here, not discovered in a training table with more rows than labels."""
    columns = source_columns(spec)
    label = label_source_of(spec)
    entity, ts = spec.spec.entity, spec.spec.timestamp
    schema = spec.expectations.schema_
    for i, src in enumerate(spec.data.sources):
        where: KeyPath = ("data", "sources", i, "time_column")
        tc = src.time_column
        if tc is None:
            continue
        if columns.get(src.name) and tc not in columns[src.name]:
            yield _at(
                doc, where, f"unknown column '{tc}' in source '{src.name}'", _guess(tc, sorted(columns[src.name]))
            )
        elif tc in schema.get(src.name, {}) and schema[src.name][tc].type != "timestamp":
            yield _at(doc, where, f"column '{tc}' of '{src.name}' must have type timestamp to order rows in time")
        if src.name == label and ts is not None and tc != ts:
            yield _at(doc, where, f"'{src.name}' holds the target: its rows are timed by spec.timestamp '{ts}'")
        elif src.name != label and ts is None:
            yield _at(
                doc,
                where,
                f"source '{src.name}' is timed, but spec has no timestamp to join its rows as of",
                "set spec.timestamp, or drop time_column to join it as a table of one row per entity",
            )
    for i, f in enumerate(spec.features.definitions):
        here = ("features", "definitions", i)
        if f.name == entity:
            yield _at(
                doc,
                (*here, "name"),
                f"'{entity}' is the entity, the key every feature is joined on, not a feature",
                "leave it out of features.definitions; a request still carries it",
            )
        if f.window is None and columns.get(f.from_) and f.from_ != label and entity not in columns[f.from_]:
            yield _at(
                doc,
                (*here, "from"),
                f"source '{f.from_}' has no entity column '{entity}' to join its rows to the training rows",
                f"declare expectations.schema.{f.from_}.{entity}, or rename the source's key column to it",
            )


def cross_field_checks(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    columns = source_columns(spec)
    for i, cf in enumerate(spec.expectations.cross_field):
        here = ("expectations", "cross_field", i)
        if cf.table not in columns:
            yield _at(doc, (*here, "table"), f"unknown source '{cf.table}'", _guess(cf.table, sorted(columns)))
            continue
        try:
            parsed = parse_expression(cf.check)
        except ExpressionError as exc:
            yield _at(doc, (*here, "check"), str(exc))
            continue
        for col in parsed.columns:
            if col not in columns[cf.table]:
                yield _at(
                    doc,
                    (*here, "check"),
                    f"unknown column '{col}' in source '{cf.table}'",
                    _guess(col, sorted(columns[cf.table])),
                )
        if parsed.aggregate:
            yield _at(doc, (*here, "check"), "a cross-field check is a row-level condition, not an aggregate")


def overrides_known(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    schema = spec.expectations.schema_
    cross = {c.name for c in spec.expectations.cross_field}
    for i, ov in enumerate(spec.expectations.overrides):
        parts = ov.expectation.split(".")
        layer = parts[0]
        ok = False
        if layer in ("schema", "distribution") and len(parts) >= 3:
            ok = parts[1] in schema and parts[2] in schema[parts[1]]
        elif layer == "cross_field" and len(parts) == 2:
            ok = parts[1] in cross
        elif layer == "target" and len(parts) == 1:
            ok = True
        if not ok:
            yield _at(
                doc,
                ("expectations", "overrides", i, "expectation"),
                f"'{ov.expectation}' names no expectation",
                "use schema.<source>.<column>[.<check>], distribution.<source>.<column>, cross_field.<name> or target",
            )


def metric_fits_task(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    task = spec.spec.task
    checks = (
        (("spec", "metric", "name"), spec.spec.metric.name, metrics_for(task)),
        (("monitoring", "concept", "metric"), spec.monitoring.concept.metric, concept_metrics_for(task)),
    )
    for path, name, allowed in checks:
        if name not in allowed:
            yield _at(
                doc, path, f"metric '{name}' does not fit task '{task}'", f"use one of: {', '.join(sorted(allowed))}"
            )
    if task == "multiclass_classification" and spec.spec.metric.threshold != "auto":
        yield _at(
            doc,
            ("spec", "metric", "threshold"),
            "a multiclass model predicts its most probable class; there is no threshold to fix",
            "remove spec.metric.threshold",
        )
    share = ("expectations", "target", "max_class_proportion_deviation")
    if task == "regression" and share in doc.values:
        yield _at(
            doc,
            share,
            "a regression target has no classes whose shares could move; validate tests its distribution "
            "like any numeric column, at expectations.distribution.p_value",
            "remove expectations.target",
        )


def split_rules(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    split = spec.training.split
    if split.strategy == "random" and spec.spec.timestamp:
        yield _at(
            doc,
            ("training", "split", "strategy"),
            "random splits are refused when spec.timestamp is set (they leak the future)",
            "use strategy: time",
        )
    if split.strategy == "time" and not spec.spec.timestamp:
        yield _at(doc, ("training", "split", "strategy"), "a time split needs spec.timestamp")
    if split.validation + split.test >= 0.8:
        yield _at(doc, ("training", "split"), "validation + test leave too little to train on")
    if spec.training.cv.strategy == "kfold" and spec.spec.timestamp:
        yield _at(
            doc,
            ("training", "cv", "strategy"),
            "k-fold CV mixes past and future when spec.timestamp is set",
            "use strategy: time_series",
        )


def backend_params(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    t = spec.training
    known = sorted(BACKEND_PARAMS[t.backend])
    for key in t.params:
        if key not in known:
            yield _at(
                doc,
                ("training", "params", key),
                f"'{key}' is not a {t.backend} parameter",
                _guess(key, known),
                f"known: {', '.join(known)}",
            )
    for key, space in t.hpo.space.items():
        here = ("training", "hpo", "space", key)
        if key not in known:
            yield _at(
                doc, here, f"'{key}' is not a {t.backend} parameter", _guess(key, known), f"known: {', '.join(known)}"
            )
        low, high = getattr(space, "low", None), getattr(space, "high", None)
        if low is not None and high is not None:
            if low >= high:
                yield _at(doc, (*here, "low"), f"low {low} must be below high {high}")
            if getattr(space, "log", False) and low <= 0:
                yield _at(doc, (*here, "low"), "a log-scale range must start above 0")
    if t.backend == "torch" and spec.features.image is None and t.params.get("model") == "small_cnn":
        yield _at(doc, ("training", "params", "model"), "small_cnn needs features.image")
    model = t.params.get("model")
    if t.backend == "torch" and model is not None and model not in ("mlp", "small_cnn"):
        yield _at(
            doc,
            ("training", "params", "model"),
            f"'{model}' is not one of: mlp, small_cnn",
            _guess(str(model), ["mlp", "small_cnn"]),
        )
    if spec.features.image is not None and t.backend != "torch":
        yield _at(doc, ("training", "backend"), "image features need backend: torch")


def image_rules(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    img = spec.features.image
    if img is None:
        return
    dicoms = [s.name for s in spec.data.sources if isinstance(s, DicomSource)]
    if img.source not in dicoms:
        yield _at(
            doc,
            ("features", "image", "source"),
            f"'{img.source}' is not a dicom source",
            f"dicom sources: {', '.join(dicoms) or 'none'}",
        )
    if "image" not in spec.spec.inputs:
        yield _at(doc, ("spec", "inputs"), "features.image is set, so `image` must be one of the inputs")


def offline_store_rules(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """Time travel is Delta's: a Parquet store holds one version, the last one written;
    and images stay NumPy arrays beside Parquet parts, which a Delta table has no place for."""
    offline = spec.features.store.offline
    if offline.as_of is not None and offline.format != "delta":
        yield _at(
            doc,
            ("features", "store", "offline", "as_of"),
            f"reading as of a dataset version needs the Delta format, not {offline.format!r} "
            "(a Parquet store keeps only the last version featurize wrote)",
            "set features.store.offline.format: delta",
        )
    if offline.format == "delta" and spec.features.image is not None:
        yield _at(
            doc,
            ("features", "store", "offline", "format"),
            "image features are stored as NumPy arrays beside Parquet parts; a Delta offline store cannot hold them",
            "use format: parquet for a system with features.image",
        )


WANDB_FORBIDDEN = re.compile(r"[/\\#?%:]")


def wandb_tracking(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """W&B runs offline here (no account, no network the pipeline depends on; `wandb
    sync` uploads later), and its project names refuse some characters."""
    t = spec.training.tracking
    if t.backend != "wandb":
        return
    if t.uri not in ("offline", "none"):
        yield _at(
            doc,
            ("training", "tracking", "uri"),
            f"{t.uri!r}: the wandb backend writes offline runs (uri: offline) or none; upload them with `wandb sync`",
            "leave uri out for offline mode",
        )
    if t.experiment is not None and (WANDB_FORBIDDEN.search(t.experiment) or len(t.experiment) > 128):
        yield _at(
            doc,
            ("training", "tracking", "experiment"),
            f"{t.experiment!r} cannot name a W&B project (at most 128 characters, none of / \\ # ? % :)",
        )


def canary_rules(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    c = spec.serving.canary
    steps = [share(s) for s in c.steps]
    if any(b <= a for a, b in zip(steps, steps[1:], strict=False)):
        yield _at(doc, ("serving", "canary", "steps"), "steps must be strictly increasing")
    if steps[-1] != 1.0:
        yield _at(doc, ("serving", "canary", "steps"), "steps must end at 100%")
    t = share(c.traffic)
    if not 0.0 < t < 1.0:
        yield _at(doc, ("serving", "canary", "traffic"), "canary traffic must be between 0% and 100%, exclusive")
    if spec.spec.entity in spec.serving.batch.pass_through:
        yield _at(
            doc,
            ("serving", "batch", "pass_through"),
            f"{spec.spec.entity!r} is the entity: predict writes it beside every score already",
        )
    if spec.serving.mode == "batch" and not spec.serving.batch.input:
        yield _at(doc, ("serving", "batch", "input"), "mode: batch needs serving.batch.input")


def paths_inside(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    if root is None:
        return
    spec_dir, project = root, _project_root(root)
    inputs: list[tuple[KeyPath, str]] = [
        (("data", "sources", i, "uri"), src.uri) for i, src in enumerate(spec.data.sources)
    ]
    if spec.serving.batch.input:
        inputs.append((("serving", "batch", "input"), spec.serving.batch.input))
    if spec.monitoring.concept.labels:
        inputs.append((("monitoring", "concept", "labels"), spec.monitoring.concept.labels))
    for path, uri in inputs:
        try:
            check_source_uri(uri, spec_dir, project)
        except PathProblem as exc:
            yield _at(doc, path, str(exc), exc.hint)
    outputs: list[tuple[KeyPath, str]] = [
        (("serving", "logging", "path"), spec.serving.logging.path),
        (("serving", "batch", "output"), spec.serving.batch.output),
        (("features", "store", "offline", "path"), spec.features.store.offline.path),
        (("features", "store", "online", "path"), spec.features.store.online.path),
    ]
    outputs += [
        (("monitoring", "alerts", i, "path"), a.path) for i, a in enumerate(spec.monitoring.alerts) if a.type == "log"
    ]
    for path, value in outputs:
        try:
            check_output_path(value)
        except PathProblem as exc:
            yield _at(doc, path, str(exc), exc.hint)


def _project_root(spec_dir: Path) -> Path:
    """The git repository holding the spec, or the spec's folder when there is none."""
    here = spec_dir.resolve()
    for candidate in (here, *here.parents):
        if (candidate / ".git").exists():
            return candidate
    return here


def _written_part(value: str) -> str:
    """What of a string is written out: all of it, or an env reference's default."""
    m = ENV_REF.match(value)
    return (m.group(2) or "") if m else value


SECRET_QUERY = re.compile(r"[?&](password|passwd|secret|token|api_key|apikey|access_key|sig)=[^&]", re.I)


def _url_secret(text: str) -> bool:
    if "://" not in text:
        return False
    userinfo = text.split("://", 1)[1].split("/", 1)[0]
    return ("@" in userinfo and ":" in userinfo.split("@", 1)[0]) or bool(SECRET_QUERY.search(text))


def secrets_are_references(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """No secret is written out: not as a value, not inside a URL (user:password@ or
    ?password=), and not as the default of an `${oc.env:NAME,default}` reference,
    which params.yaml, plan.json and spec.resolved.yaml carry as written."""

    def walk(value: object, path: KeyPath) -> Iterator[Diagnostic]:
        if isinstance(value, dict):
            for k, v in value.items():
                sub = (*path, k)
                secret_key = isinstance(k, str) and SECRET_KEY.search(k) and not k.endswith("_env")
                if secret_key and isinstance(v, str) and _written_part(v):
                    yield _at(
                        doc,
                        sub,
                        "a secret must not be written in the spec"
                        + (" (not even as a reference's default)" if ENV_REF.match(v) else ""),
                        f"use ${{oc.env:{str(k).upper()}}} and set it in the environment",
                    )
                else:
                    yield from walk(v, sub)
        elif isinstance(value, list):
            for i, v in enumerate(value):
                yield from walk(v, (*path, i))
        elif isinstance(value, str) and _url_secret(_written_part(value)):
            yield _at(
                doc,
                path,
                "this URL carries a password or token"
                + (" in a reference's default, which is written out" if ENV_REF.match(value) else ""),
                "move the URL into the environment: ${oc.env:NAME} with no default",
            )

    yield from walk(doc.data, ())


def search_is_possible(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """More than one trial over an empty space would run the same fit again and again."""
    hpo = spec.training.hpo
    if not hpo.space and hpo.trials > 1:
        yield _at(
            doc,
            ("training", "hpo", "trials"),
            f"{hpo.trials} trials, but training.hpo.space is empty: there is nothing to search",
            "add parameters to training.hpo.space, or leave out `space` for the backend's default one",
        )


def kubernetes_rules(spec: SystemSpec, doc: Document, root: Path | None) -> Iterator[Diagnostic]:
    """What deploy/k8s/ needs from the rest of the spec, said at compile time rather than
    by the API server or the rollout controller at deploy time."""
    k = spec.serving.kubernetes
    if k is None:
        return
    at = ("serving", "kubernetes")
    if not re.fullmatch(K8S_NAME, spec.name):
        yield _at(
            doc, ("name",), f"{spec.name!r} cannot name Kubernetes objects (lower-case letters, digits and '-' only)"
        )
    if k.canary.traffic == "nginx" and k.host is None:
        yield _at(
            doc, (*at, "canary", "traffic"), "traffic: nginx routes by an Ingress, which needs serving.kubernetes.host"
        )
    if k.resources.requests.cpu is None:
        yield _at(
            doc, (*at, "resources", "requests"), "the autoscaler targets CPU utilisation, which needs a cpu request"
        )
    shares = [("traffic", spec.serving.canary.traffic)] + [("steps", x) for x in spec.serving.canary.steps]
    for key, value in shares:
        if abs(share(value) * 100 - round(share(value) * 100)) > 1e-9:
            yield _at(
                doc,
                ("serving", "canary", key),
                f"{value} is not a whole percent: Argo Rollouts sets weights in whole percents",
            )
            break
    if spec.serving.mode == "batch" and not k.schedules.predict:
        yield _at(doc, (*at, "schedules", "predict"), "mode: batch deploys no endpoint: it needs a predict schedule")
    for command in ("predict", "monitor"):
        if getattr(k.schedules, command) and not spec.serving.batch.input:
            yield _at(
                doc, (*at, "schedules", command), f"a scheduled {command} reads serving.batch.input, which is not set"
            )


RULES: tuple[Rule, ...] = (
    unique_names,
    renames,
    schema_sources,
    target_and_keys,
    inputs_known,
    joined_sources,
    feature_expressions,
    cross_field_checks,
    overrides_known,
    metric_fits_task,
    split_rules,
    backend_params,
    search_is_possible,
    image_rules,
    offline_store_rules,
    wandb_tracking,
    canary_rules,
    kubernetes_rules,
    paths_inside,
    secrets_are_references,
)
