/*
 * internal.h — private to publish/ (and its tests): base/'s helpers (base_err
 * writes the error lines) and the topic check that url.c (the prefix) and publish.c (suffixes) share.
 * Nothing outside publish/ includes this.
 */
#ifndef VDETECT_PUBLISH_INTERNAL_H
#define VDETECT_PUBLISH_INTERNAL_H

#include <stddef.h>

#include "../base/base.h"
#include "publish.h"

/* NULL when s (NUL-terminated) is a good topic prefix or suffix: one or more
 * levels, no leading or trailing '/', no empty level, no wildcard, valid UTF-8
 * without control characters; else what is wrong, as a phrase to follow the
 * topic ("has an MQTT wildcard (+ or #)"). */
const char *publish_topic_problem(const char *s);

#endif
