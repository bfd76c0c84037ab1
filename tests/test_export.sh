#!/bin/sh
# test_export.sh — the exporter's own checks (tests/test_export.py): every
# backbone family converts and its graph gives torchvision's maps, refusals
# name the operation and where it is, the command line round-trips.
exec "${PYTHON:-/usr/bin/python3}" tests/test_export.py
