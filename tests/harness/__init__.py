"""The template's test harness, one module per concern; every test module imports from here.

- tools: the template's folder, finding a tool (one rule when it is missing), running a command;
- processes: a server in its own process group, polled until ready, stopped with its whole group;
- bakes: baking the template, running a bake's make targets, the data a trained bake is given;
- checks: the static `verify_*` checks of a baked project, shared by every bake that is inspected;
- servers: PostgreSQL, the S3-compatible server and `mlflow server` on 127.0.0.1;
- events, workflows, runner: running a generated workflow under act (docs/act.md says how act behaves).
"""
