# Solobot: the bot with every module in its own sandboxed process.
#
#   docker build -t solobot .
#   docker compose up -d        # two workers, PostgreSQL, Redis and nginx: docker-compose.yml
#
# Which of the sandbox's layers hold in a container, and what each needs, is in the README
# ("Production: containers and systemd"). In short: this image runs as the unprivileged user
# `solobot` by default, where rlimits, no_new_privs, Landlock, seccomp and dumpable=0 all hold and
# `solobot modules status` reports `NOT own uid` (and `NOT cgroup …` without a delegated cgroup);
# docker-compose.yml runs it as root with every capability dropped but the seven the per-module
# uids and the watchdog need.
FROM python:3.11-slim-bookworm

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The project root is the code's folder (modules.toml and modules/ are found next to it), so the
# package is installed in place, as the README's `pip install -e .` does. Every dependency ships
# manylinux wheels for CPython 3.11: no compiler in the image. The code stays root's (read-only to
# the bot); the catalog installer writes modules and their grants, so those two are the bot user's.
WORKDIR /app
COPY . .
RUN pip install -e '.[redis]' \
    && useradd --system --user-group --home-dir /var/lib/solobot --shell /usr/sbin/nologin solobot \
    && install -d -o solobot -g solobot -m 0750 /var/lib/solobot \
    && chown -R solobot:solobot /app/modules /app/modules.toml

# DATA_DIR: module uids, each module's private folders, the state of stopped modules.
ENV DATA_DIR=/var/lib/solobot \
    WEB_HOST=0.0.0.0 \
    WEB_PORT=8080
VOLUME ["/var/lib/solobot"]
EXPOSE 8080

USER solobot
# SIGTERM: the worker stops taking updates, finishes those in hand, stops its modules, exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=15s --timeout=3s --start-period=60s \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f'http://127.0.0.1:{os.environ.get(\"WEB_PORT\", \"8080\")}/healthz', timeout=2)"]
CMD ["solobot", "run"]
