#!/bin/sh
# As the official image: a bare redis-server listens for other containers.
if [ "$1" = redis-server ]; then
  shift
  exec redis-server "$@" --protected-mode no --bind 0.0.0.0
fi
exec "$@"
