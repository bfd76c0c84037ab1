/*
 * recorder.c — event clips: a ring of a source's recent compressed video
 * packets and the clips written from it by stream copy, on the recorder's own
 * thread (video.h, "Event clips").
 *
 * Owns: the ring, the clips (their files and muxers) and the writing thread.
 * One mutex guards the ring, the clip table and the counters. The decode
 * thread takes it for each packet (recorder_feed, called by source.c with the
 * source's lock held: lock order source, then recorder), the callers of
 * video_clip_start/stop and stats take it briefly, and the writing thread
 * holds it only to decide what to do next: it takes a reference to a clip's
 * next packet, lets go of the lock, muxes and writes, and comes back. So the
 * decode thread never waits on a disk, only on that short critical section.
 *
 * The ring. Entries in demux (decode) order, numbered by a running seq; each
 * holds a reference to the demuxed packet (the AVPacket itself reused from
 * slot to slot), its timestamps on the source's time line, the generation it
 * belongs to and a keyframe flag; a side list, in the same circular layout,
 * holds the keyframes' seqs. Every generation's first entry is a keyframe.
 * A running clip has a cursor, the seq it writes next: entries before every
 * cursor may go, a whole GOP at a time, once the next GOP alone reaches
 * pre + margin back from the newest packet; past max_bytes the oldest GOP goes
 * whatever the cursors (the clips behind it lose it and go on at the next
 * keyframe).
 *
 * Generations. A clip is one stream of one connection with increasing decode
 * times. A generation ends when the source reconnects (recorder_break), when
 * a connection's timestamps go back (a seek, a sender restarted) and when the
 * source starts a new segment of its time line; a running clip ends where
 * its generation does. The time line of a generation (how its timestamps map
 * onto video_frame.pts) is what the source says with each packet; after a
 * reconnect, and after timestamps went back on a source that rebases its time
 * line, it is known only once the source has placed the first frame: until
 * then the generation's entries are unmapped and no clip starts on them.
 */
#include "video.h"
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libavutil/avstring.h>

#define REC_PRE 5.0                      /* s, default pre-roll */
#define REC_MARGIN 5.0                   /* s, default slack for the caller's lag */
#define REC_CLIPS 8                      /* default clips open at once */
#define REC_CLIPS_MAX 1024
#define REC_BYTES ((size_t)64 << 20)     /* default ring cap */
#define REC_FIRST_CAP 256                /* ring entries at first (doubling) */
#define REC_MAX_ENTRIES (1 << 18)        /* ring entries at most: hours of video */
#define REC_SETTLE_AFTER 64              /* packets a rebasing source has to place a
                                            jump back before its old time line is taken */
#define REC_IO_BUFFER 32768
#define FRAG_MS 200                      /* MP4 fragment / Matroska cluster, as writer.c */

#if LIBAVFORMAT_VERSION_MAJOR >= 61
#define AVIO_WBUF const uint8_t
#else
#define AVIO_WBUF uint8_t
#endif

struct rec_entry {
    AVPacket *pkt;     /* a reference (raw timestamps, its connection's stream time
                          base); the AVPacket is kept for the slot's next use */
    int64_t pts, dts;  /* on the source's time line (tb), once mapped */
    int64_t gen;
    int key, mapped;
};

enum clip_state { CLIP_WAITING, CLIP_RUNNING, CLIP_DONE };

struct clip {
    int id;
    char *path;
    int fd;                 /* created by video_clip_start; -1 once closed */
    /* under the lock */
    enum clip_state state;  /* WAITING: no keyframe to start at yet */
    double target;          /* stream s: start at the keyframe at or before this */
    int stop_set;           /* t_end is valid */
    double t_end;
    int stopped;            /* video_clip_stop() was called: free the slot when done */
    int64_t gen, cursor;    /* RUNNING: its generation; the seq it writes next */
    int64_t offset;         /* tb: taken off its timestamps (its first packet's dts) */
    AVCodecParameters *par; /* its generation's stream, copied when it began */
    int broke;              /* ended early by the end of its generation */
    int err;                /* < 0: failed (printed); set before DONE */
    /* the writing thread's alone */
    AVFormatContext *oc;
    int header;             /* header written: a trailer is due */
    int64_t last_dts;       /* output time base; AV_NOPTS_VALUE before the first */
    int64_t packets;        /* written */
};

struct video_recorder {
    struct video_source *src; /* attached to; NULL when not (yet, or any more) */
    char *input;              /* the source's name, for messages */
    const AVOutputFormat *of;
    AVRational tb;            /* the source's time line: video_info's time base */
    double pre, keep;         /* s: pre-roll; pre + margin, what the ring keeps */
    size_t max_bytes;
    int max_clips;
    int rebases;              /* the source rebases its time line (reconnect on) */

    pthread_mutex_t lock;
    pthread_cond_t wake;      /* the writing thread: new packets, clips, closing */
    pthread_t thread;
    int thread_started;
    AVPacket *out;            /* the writing thread's packet in hand */

    /* Everything below is under the lock. The ring: */
    struct rec_entry *ring;   /* cap slots, circular, count in use from head */
    int cap, head, count;
    int64_t first_seq;        /* the seq of the entry at head */
    int64_t *keys;            /* the keyframes' seqs, oldest first, circular in cap */
    int keys_head, keys_n;
    size_t bytes;             /* payload held */

    /* The current generation: */
    int64_t gen;
    int mapped;               /* its time line tl is known, its entries mapped */
    int stale;                /* unmapped after timestamps went back: tl is the old
                                 line, which the source is about to replace */
    int pending;              /* entries fed while unmapped */
    int need_par;             /* par comes with its first packet (a new connection) */
    int need_key;             /* keep nothing until a keyframe */
    struct rec_timeline tl;
    int64_t last_raw;         /* its last packet's dts (else pts), stream time base */
    int64_t newest;           /* its newest mapped dts (tb); AV_NOPTS_VALUE if none */
    AVCodecParameters *par;   /* its video stream */

    int64_t origin;           /* pts_sec's 0 (tb); AV_NOPTS_VALUE until known */
    int eof;                  /* the input ended (until another packet comes) */
    int closing;
    struct clip **clips;      /* max_clips slots, NULL when free */
    int next_id;
    struct video_recorder_stats st; /* counters (the rest is filled in on demand) */
};

/* ---- the ring (all under the lock) ---- */

static struct rec_entry *entry_at(struct video_recorder *r, int64_t seq)
{
    VIDEO_ASSERT(seq >= r->first_seq && seq < r->first_seq + r->count);
    return &r->ring[(r->head + (int)(seq - r->first_seq)) % r->cap];
}

static int64_t key_at(const struct video_recorder *r, int i)
{
    return r->keys[(r->keys_head + i) % r->cap];
}

/* The first keyframe after the head entry, -1 if none. */
static int64_t next_key(const struct video_recorder *r)
{
    for (int i = 0; i < r->keys_n; i++)
        if (key_at(r, i) > r->first_seq)
            return key_at(r, i);
    return -1;
}

/* Stream seconds (video_frame.pts_sec) of a time on the source's line. */
static double seconds(const struct video_recorder *r, int64_t t)
{
    return (t - (r->origin != AV_NOPTS_VALUE ? r->origin : 0)) * av_q2d(r->tb);
}

static int64_t tl_map(const struct rec_timeline *tl, AVRational tb, int64_t ts)
{
    return ts == AV_NOPTS_VALUE ? ts : tl->seg_out + av_rescale_q(ts - tl->seg_in, tl->st_tb, tb);
}

static int tl_same(const struct rec_timeline *a, const struct rec_timeline *b)
{
    return !av_cmp_q(a->st_tb, b->st_tb) && a->seg_in == b->seg_in && a->seg_out == b->seg_out;
}

/* Place an entry of the current generation on the time line tl. A packet with
 * only one of its timestamps gets it for both (no reordering, then). */
static void map_entry(struct video_recorder *r, struct rec_entry *e, const struct rec_timeline *tl)
{
    int64_t p = e->pkt->pts, d = e->pkt->dts;
    if (p == AV_NOPTS_VALUE)
        p = d;
    if (d == AV_NOPTS_VALUE)
        d = p;
    e->pts = tl_map(tl, r->tb, p);
    e->dts = tl_map(tl, r->tb, d);
    e->mapped = 1;
    if (r->newest == AV_NOPTS_VALUE || e->dts > r->newest)
        r->newest = e->dts;
}

/* Room for twice as many entries (up to REC_MAX_ENTRIES), order kept. */
static int ring_grow(struct video_recorder *r)
{
    int cap = r->cap ? 2 * r->cap : REC_FIRST_CAP;
    if (cap > REC_MAX_ENTRIES)
        return AVERROR(ENOSPC);
    struct rec_entry *ring = calloc(cap, sizeof *ring);
    int64_t *keys = calloc(cap, sizeof *keys);
    if (!ring || !keys) {
        free(ring);
        free(keys);
        return AVERROR(ENOMEM);
    }
    for (int i = 0; i < r->cap; i++) /* the free slots too: their AVPackets are kept */
        ring[i] = r->ring[(r->head + i) % r->cap];
    for (int i = 0; i < r->keys_n; i++)
        keys[i] = key_at(r, i);
    free(r->ring);
    free(r->keys);
    r->ring = ring;
    r->keys = keys;
    r->cap = cap;
    r->head = 0;
    r->keys_head = 0;
    return 0;
}

static void drop_head(struct video_recorder *r)
{
    struct rec_entry *e = &r->ring[r->head];
    if (r->keys_n && key_at(r, 0) == r->first_seq) {
        r->keys_head = (r->keys_head + 1) % r->cap;
        r->keys_n--;
    }
    r->bytes -= e->pkt->size;
    av_packet_unref(e->pkt);
    r->head = (r->head + 1) % r->cap;
    r->count--;
    r->first_seq++;
    if (!r->count)
        r->need_key = 1; /* the ring starts at a keyframe again */
}

/* Over a bound: drop the oldest GOP (up to the next keyframe, or everything),
 * whether clips still need it or not. Those that did lose its packets
 * (counted) and go on at the next keyframe. */
static void drop_gop(struct video_recorder *r)
{
    int64_t end = next_key(r);
    if (end < 0)
        end = r->first_seq + r->count;
    for (int i = 0; i < r->max_clips; i++) {
        struct clip *c = r->clips[i];
        if (c && c->state == CLIP_RUNNING && c->cursor < end) {
            r->st.packets_dropped += end - (c->cursor > r->first_seq ? c->cursor : r->first_seq);
            c->cursor = end;
        }
    }
    while (r->first_seq < end)
        drop_head(r);
}

/* Keep the ring within its bounds: drop what no running clip still has to
 * write and the current generation does not need to reach `keep` seconds
 * back — old generations' entries, and whole GOPs while the next keyframe is
 * itself at least `keep` before the newest packet. */
static void trim(struct video_recorder *r)
{
    while (r->count && r->bytes > r->max_bytes)
        drop_gop(r);
    int64_t pin = INT64_MAX;
    for (int i = 0; i < r->max_clips; i++) {
        struct clip *c = r->clips[i];
        if (c && c->state == CLIP_RUNNING && c->cursor < pin)
            pin = c->cursor;
    }
    while (r->count && r->first_seq < pin) {
        struct rec_entry *e = entry_at(r, r->first_seq);
        if (e->gen != r->gen) {
            drop_head(r);
            continue;
        }
        if (!e->mapped || r->newest == AV_NOPTS_VALUE)
            return;
        int64_t k = next_key(r);
        if (k < 0 || k > pin || (r->newest - entry_at(r, k)->pts) * av_q2d(r->tb) < r->keep)
            return;
        while (r->first_seq < k)
            drop_head(r);
    }
}

/* The generation's time line is tl now: map its entries. */
static void settle(struct video_recorder *r, const struct rec_timeline *tl)
{
    r->tl = *tl;
    r->mapped = 1;
    r->stale = 0;
    r->pending = 0;
    for (int64_t seq = r->first_seq + r->count - 1; seq >= r->first_seq; seq--) {
        struct rec_entry *e = entry_at(r, seq);
        if (e->gen != r->gen || e->mapped)
            break;
        map_entry(r, e, tl);
    }
}

/* A generation begins: running clips end where the last one did. */
static void new_gen(struct video_recorder *r)
{
    r->gen++;
    r->need_key = 1;
    r->pending = 0;
    r->newest = AV_NOPTS_VALUE;
    pthread_cond_signal(&r->wake);
}

/* ---- clips ---- */

static int clip_fail(struct clip *c, const char *what, int err)
{
    if (what)
        fprintf(stderr, "video clip %s: %s: %s\n", c->path, what, av_err2str(err));
    else
        fprintf(stderr, "video clip %s: %s\n", c->path, av_err2str(err));
    if (!c->err)
        c->err = err;
    return err;
}

static void clip_free(struct clip *c)
{
    if (!c)
        return;
    if (c->fd >= 0)
        close(c->fd);
    avcodec_parameters_free(&c->par);
    av_free(c->path);
    free(c);
}

/* Under the lock: give a waiting clip its first packet — the latest keyframe
 * of the current (mapped) generation at or before its target, else that
 * generation's oldest keyframe — or leave it waiting. */
static void clip_bind(struct video_recorder *r, struct clip *c)
{
    if (!r->mapped)
        return;
    int64_t pick = -1, oldest = -1;
    for (int i = r->keys_n - 1; i >= 0 && pick < 0; i--) {
        struct rec_entry *e = entry_at(r, key_at(r, i));
        if (e->gen != r->gen)
            break;
        oldest = key_at(r, i);
        if (seconds(r, e->pts) <= c->target)
            pick = oldest;
    }
    if (pick < 0)
        pick = oldest;
    if (pick < 0)
        return;
    c->state = CLIP_RUNNING;
    c->gen = r->gen;
    c->cursor = pick;
    c->offset = entry_at(r, pick)->dts;
    int ret = avcodec_parameters_copy(c->par, r->par);
    if (ret < 0)
        clip_fail(c, NULL, ret); /* the writing thread ends it */
}

/* ---- output: a file descriptor as an AVIOContext (created O_EXCL by us) ---- */

static int fd_write(void *opaque, AVIO_WBUF *buf, int size)
{
    struct clip *c = opaque;
    int done = 0;
    while (done < size) {
        ssize_t n = write(c->fd, buf + done, (size_t)(size - done));
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return AVERROR(errno);
        }
        done += (int)n;
    }
    return size;
}

static int64_t fd_seek(void *opaque, int64_t offset, int whence)
{
    struct clip *c = opaque;
    if (whence == AVSEEK_SIZE) {
        struct stat st;
        return fstat(c->fd, &st) < 0 ? AVERROR(errno) : (int64_t)st.st_size;
    }
    off_t o = lseek(c->fd, (off_t)offset, whence & ~AVSEEK_FORCE);
    return o < 0 ? AVERROR(errno) : (int64_t)o;
}

/* The muxer options for crash safety, as writer.c's: every packet handed to
 * the OS as it is muxed; MP4 fragmented, Matroska in short clusters. */
static void mux_options(const AVOutputFormat *of, AVDictionary **d)
{
    av_dict_set(d, "flush_packets", "1", 0);
    if (!strcmp(of->name, "mp4") || !strcmp(of->name, "mov") || !strcmp(of->name, "ipod")) {
        av_dict_set(d, "movflags", "+empty_moov+delay_moov+default_base_moof", 0);
        av_dict_set_int(d, "frag_duration", FRAG_MS * 1000, 0);
    } else if (!strcmp(of->name, "matroska") || !strcmp(of->name, "webm")) {
        av_dict_set_int(d, "cluster_time_limit", FRAG_MS, 0);
    }
}

/* One video stream of par in time base tb, into pb; its header written. */
static int mux_begin(AVFormatContext **ocp, const AVOutputFormat *of, const AVCodecParameters *par,
                     AVRational tb, AVIOContext *pb)
{
    AVFormatContext *oc = NULL;
    int ret = avformat_alloc_output_context2(&oc, of, NULL, NULL);
    if (ret < 0)
        return ret;
    *ocp = oc;
    oc->pb = pb;
    oc->flags |= AVFMT_FLAG_CUSTOM_IO; /* pb is the caller's to free */
    AVStream *os = avformat_new_stream(oc, NULL);
    if (!os)
        return AVERROR(ENOMEM);
    if ((ret = avcodec_parameters_copy(os->codecpar, par)) < 0)
        return ret;
    os->codecpar->codec_tag = 0; /* the muxer's own */
    os->time_base = tb;
    AVDictionary *mux = NULL;
    mux_options(of, &mux);
    ret = avformat_write_header(oc, &mux);
    av_dict_free(&mux);
    return ret;
}

static void mux_free(AVFormatContext **ocp)
{
    AVFormatContext *oc = *ocp;
    if (!oc)
        return;
    if (oc->pb) {
        av_freep(&oc->pb->buffer);
        avio_context_free(&oc->pb);
    }
    avformat_free_context(oc);
    *ocp = NULL;
}

/* The writing thread: a clip's muxer, at its first packet. */
static int clip_open_muxer(struct video_recorder *r, struct clip *c)
{
    uint8_t *buf = av_malloc(REC_IO_BUFFER);
    AVIOContext *pb = buf ? avio_alloc_context(buf, REC_IO_BUFFER, 1, c, NULL, fd_write, fd_seek)
                          : NULL;
    if (!pb) {
        av_free(buf);
        return clip_fail(c, NULL, AVERROR(ENOMEM));
    }
    int ret = mux_begin(&c->oc, r->of, c->par, r->tb, pb);
    if (!c->oc) {
        av_freep(&pb->buffer);
        avio_context_free(&pb);
    }
    if (ret < 0)
        return clip_fail(c, "cannot write the header", ret);
    c->header = 1;
    return 0;
}

/* The writing thread, without the lock: r->out (the clip's timestamps, tb)
 * into c's file. */
static void clip_write(struct video_recorder *r, struct clip *c)
{
    AVPacket *p = r->out;
    if (!c->oc && clip_open_muxer(r, c) < 0) {
        av_packet_unref(p);
        return;
    }
    AVStream *os = c->oc->streams[0];
    p->stream_index = 0;
    p->pos = -1;
    av_packet_rescale_ts(p, r->tb, os->time_base);
    if (c->last_dts != AV_NOPTS_VALUE && p->dts <= c->last_dts) {
        /* equal decode times (a sender's glitch, or rounding into a coarser
         * time base): the next tick, as muxers require */
        p->dts = c->last_dts + 1;
        if (p->pts < p->dts)
            p->pts = p->dts;
    }
    c->last_dts = p->dts;
    int ret = av_write_frame(c->oc, p);
    av_packet_unref(p);
    if (ret < 0)
        clip_fail(c, "write error", ret);
    else
        c->packets++;
}

/* The writing thread, without the lock: trailer, close; a clip with no packet
 * leaves no file. */
static void clip_finish(struct clip *c)
{
    if (c->header && !c->err) {
        int ret = av_write_trailer(c->oc);
        if (ret < 0)
            clip_fail(c, "cannot finish the file", ret);
    }
    mux_free(&c->oc);
    if (c->fd >= 0) {
        int ret = close(c->fd) < 0 ? AVERROR(errno) : 0;
        c->fd = -1;
        if (ret < 0 && c->packets)
            clip_fail(c, "cannot close the file", ret);
    }
    if (!c->packets) {
        unlink(c->path);
        if (!c->err) {
            fprintf(stderr, "video clip %s: no keyframe came before the recorder closed; "
                            "file removed\n", c->path);
            c->err = AVERROR(ENODATA);
        }
    } else if (c->broke && !c->err) {
        fprintf(stderr, "video clip %s: note: ends early, at a break in the source (a "
                        "reconnect, or its timestamps went back)\n", c->path);
    }
}

enum { ACT_NONE, ACT_WRITE, ACT_FINISH };

/* Under the lock: what the writing thread does next for c. ACT_WRITE: the
 * packet is in r->out, with the clip's timestamps (tb). */
static int clip_next(struct video_recorder *r, struct clip *c)
{
    if (c->state == CLIP_DONE)
        return ACT_NONE;
    if (c->err)
        return ACT_FINISH;
    if (c->state == CLIP_WAITING)
        return r->closing ? ACT_FINISH : ACT_NONE;
    if (c->cursor < r->first_seq + r->count) {
        struct rec_entry *e = entry_at(r, c->cursor);
        if (e->gen != c->gen || !e->mapped) {
            c->broke = 1;
            return ACT_FINISH;
        }
        if (c->stop_set && c->packets && seconds(r, e->dts) > c->t_end)
            return ACT_FINISH;
        int ret = av_packet_ref(r->out, e->pkt);
        if (ret < 0) {
            clip_fail(c, NULL, ret);
            return ACT_FINISH;
        }
        r->out->pts = e->pts - c->offset;
        r->out->dts = e->dts - c->offset;
        c->cursor++;
        return ACT_WRITE;
    }
    /* caught up with the ring */
    if (r->closing || (c->stop_set && r->eof))
        return ACT_FINISH;
    if (c->gen != r->gen) { /* its generation is over: nothing more will come */
        c->broke = 1;
        return ACT_FINISH;
    }
    return ACT_NONE;
}

static void *recorder_main(void *arg)
{
    struct video_recorder *r = arg;
    pthread_mutex_lock(&r->lock);
    for (;;) {
        int busy = 0, open = 0;
        for (int i = 0; i < r->max_clips; i++) {
            struct clip *c = r->clips[i];
            if (!c || c->state == CLIP_DONE)
                continue;
            open++;
            int act = clip_next(r, c);
            if (act == ACT_NONE)
                continue;
            busy = 1;
            /* c stays: only a DONE clip is freed by others (video_clip_stop) */
            pthread_mutex_unlock(&r->lock);
            if (act == ACT_WRITE)
                clip_write(r, c);
            else
                clip_finish(c);
            pthread_mutex_lock(&r->lock);
            if (act == ACT_WRITE && !c->err)
                r->st.packets_written++;
            if (act == ACT_FINISH) {
                c->state = CLIP_DONE;
                if (c->err)
                    r->st.clips_failed++;
                else
                    r->st.clips_done++;
                if (c->stopped || r->closing) {
                    r->clips[i] = NULL;
                    clip_free(c);
                }
            }
        }
        if (!busy) {
            if (r->closing && !open)
                break;
            pthread_cond_wait(&r->wake, &r->lock);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

/* ---- the source's side (source.c calls these with its lock held) ---- */

void recorder_feed(struct video_recorder *r, const AVPacket *pkt, const AVStream *st,
                   const struct rec_timeline *tl)
{
    pthread_mutex_lock(&r->lock);
    r->eof = 0;
    int64_t raw = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
    if (raw == AV_NOPTS_VALUE || r->closing)
        goto out; /* no time: nowhere to put it in a clip */
    if (r->need_par) {
        if (avcodec_parameters_copy(r->par, st->codecpar) < 0) {
            r->st.packets_dropped++;
            goto out;
        }
        r->need_par = 0;
    } else if (r->last_raw != AV_NOPTS_VALUE && raw < r->last_raw) {
        /* time went back within the connection: a rebasing source gives it a
         * new segment of its time line at the next frame, others keep it */
        new_gen(r);
        if (r->rebases) {
            r->mapped = 0;
            r->stale = 1;
        }
    }
    r->last_raw = raw;
    if (tl) {
        if (r->origin == AV_NOPTS_VALUE)
            r->origin = tl->origin;
        if (!r->mapped) {
            if (!r->stale || !tl_same(&r->tl, tl) || r->pending >= REC_SETTLE_AFTER)
                settle(r, tl);
        } else if (!tl_same(&r->tl, tl)) {
            /* the source started a segment without a sign in the packets */
            new_gen(r);
            r->tl = *tl;
        }
    }

    int key = !!(pkt->flags & AV_PKT_FLAG_KEY);
    if (r->need_key && !key)
        goto out; /* nothing decodes without what came before it */
    if (r->count == r->cap && ring_grow(r) < 0) {
        if (r->count)
            drop_gop(r); /* as many entries as we may have: the oldest GOP goes */
        if (!r->count && (!r->cap || !key)) {
            r->st.packets_dropped += !r->cap;
            goto out; /* no room at all, or the ring must start again at a keyframe */
        }
    }
    struct rec_entry *e = &r->ring[(r->head + r->count) % r->cap];
    if ((!e->pkt && !(e->pkt = av_packet_alloc())) || av_packet_ref(e->pkt, pkt) < 0) {
        r->st.packets_dropped++;
        r->need_key = 1; /* a hole: go on at the next keyframe */
        goto out;
    }
    r->need_key = 0;
    int64_t seq = r->first_seq + r->count;
    e->gen = r->gen;
    e->key = key;
    e->mapped = 0;
    if (key)
        r->keys[(r->keys_head + r->keys_n++) % r->cap] = seq;
    r->count++;
    r->bytes += pkt->size;
    if (r->mapped)
        map_entry(r, e, &r->tl);
    else
        r->pending++;
    trim(r);
    int open = 0;
    for (int i = 0; i < r->max_clips; i++) {
        struct clip *c = r->clips[i];
        if (c && c->state == CLIP_WAITING)
            clip_bind(r, c);
        open |= c && c->state != CLIP_DONE;
    }
    if (open) /* else nothing for the writing thread to do */
        pthread_cond_signal(&r->wake);
out:
    pthread_mutex_unlock(&r->lock);
}

void recorder_break(struct video_recorder *r)
{
    pthread_mutex_lock(&r->lock);
    new_gen(r);
    r->mapped = 0;
    r->stale = 0;
    r->need_par = 1;
    r->last_raw = AV_NOPTS_VALUE;
    pthread_mutex_unlock(&r->lock);
}

void recorder_eof(struct video_recorder *r)
{
    pthread_mutex_lock(&r->lock);
    r->eof = 1;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
}

/* ---- public ---- */

/* Codecs FFmpeg's MPEG-TS muxer gives a stream type that players know; any
 * other would be muxed as private data no player shows. */
static int ts_holds(enum AVCodecID id)
{
    static const enum AVCodecID ok[] = { AV_CODEC_ID_H264,       AV_CODEC_ID_HEVC,
                                         AV_CODEC_ID_MPEG2VIDEO, AV_CODEC_ID_MPEG1VIDEO,
                                         AV_CODEC_ID_MPEG4,      AV_CODEC_ID_VC1,
                                         AV_CODEC_ID_CAVS,       AV_CODEC_ID_DIRAC };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (ok[i] == id)
            return 1;
    return 0;
}

/* Write a header for par into memory: does this container take the stream? */
static int dry_run(const AVOutputFormat *of, const AVCodecParameters *par, AVRational tb)
{
    AVIOContext *pb = NULL;
    AVFormatContext *oc = NULL;
    int ret = avio_open_dyn_buf(&pb);
    if (ret < 0)
        return ret;
    ret = mux_begin(&oc, of, par, tb, pb);
    if (oc)
        oc->pb = NULL;
    avformat_free_context(oc);
    uint8_t *buf = NULL;
    avio_close_dyn_buf(pb, &buf);
    av_free(buf);
    return ret;
}

int video_recorder_open(struct video_recorder **out, struct video_source *src,
                        const struct video_recorder_options *opt)
{
    VIDEO_ASSERT(out && src);
    *out = NULL;
    const char *in = source_input(src);
    const AVFormatContext *ic = source_format(src);
    const AVStream *st = ic->streams[source_video_index(src)];
    enum AVCodecID id = st->codecpar->codec_id;
    if (id == AV_CODEC_ID_RAWVIDEO || id == AV_CODEC_ID_WRAPPED_AVFRAME || id == AV_CODEC_ID_NONE) {
        fprintf(stderr, "video %s: recorder: the source gives decoded pictures (%s), not "
                        "compressed packets, so there is nothing to stream-copy into clips (a "
                        "lavfi graph or a raw camera format: use a compressed camera format "
                        "such as mjpeg or h264)\n", in, avcodec_get_name(id));
        return VIDEO_ERR_NO_PACKETS;
    }
    const char *fname = opt && opt->format ? opt->format : "mpegts";
    const AVOutputFormat *of = av_guess_format(fname, NULL, NULL);
    if (!of) {
        fprintf(stderr, "video %s: recorder: unknown container format '%s' (ffmpeg -muxers "
                        "lists them)\n", in, fname);
        return AVERROR(EINVAL);
    }
    if (of->flags & AVFMT_NOFILE) {
        fprintf(stderr, "video %s: recorder: the %s format writes to a URL, not a file\n", in,
                of->name);
        return AVERROR(EINVAL);
    }
    const struct video_info *vi = video_source_info(src);
    AVRational tb = { vi->time_base_num, vi->time_base_den };
    if (!strcmp(of->name, "mpegts") && !ts_holds(id)) {
        fprintf(stderr, "video %s: recorder: MPEG-TS holds %s video only as private data that "
                        "players do not show: use format matroska\n", in, avcodec_get_name(id));
        return AVERROR(EINVAL);
    }
    int ret = dry_run(of, st->codecpar, tb);
    if (ret < 0) {
        fprintf(stderr, "video %s: recorder: the %s container cannot hold %s video (%s): try "
                        "format matroska\n", in, of->name, avcodec_get_name(id),
                av_err2str(ret));
        return ret;
    }

    struct video_recorder *r = calloc(1, sizeof *r);
    if (!r) {
        fprintf(stderr, "video %s: recorder: %s\n", in, av_err2str(AVERROR(ENOMEM)));
        return AVERROR(ENOMEM);
    }
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->wake, NULL);
    r->of = of;
    r->tb = tb;
    double pre = opt && opt->pre != 0 ? opt->pre : REC_PRE;
    double margin = opt && opt->margin != 0 ? opt->margin : REC_MARGIN;
    r->pre = pre > 0 && isfinite(pre) ? pre : 0;
    r->keep = r->pre + (margin > 0 && isfinite(margin) ? margin : 0);
    r->max_clips = opt && opt->max_clips > 0 ? opt->max_clips : REC_CLIPS;
    if (r->max_clips > REC_CLIPS_MAX)
        r->max_clips = REC_CLIPS_MAX;
    r->max_bytes = opt && opt->max_bytes ? opt->max_bytes : REC_BYTES;
    r->rebases = source_rebases(src);
    r->need_par = 1;
    r->need_key = 1;
    r->last_raw = r->newest = r->origin = AV_NOPTS_VALUE;
    if (!(r->input = av_strdup(in)) || !(r->clips = calloc(r->max_clips, sizeof *r->clips)) ||
        !(r->par = avcodec_parameters_alloc()) || !(r->out = av_packet_alloc())) {
        ret = AVERROR(ENOMEM);
        fprintf(stderr, "video %s: recorder: %s\n", in, av_err2str(ret));
        goto fail;
    }
    /* signals are for the caller's threads: this one starts with all blocked */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    ret = pthread_create(&r->thread, NULL, recorder_main, r);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (ret != 0) {
        ret = AVERROR(ret);
        fprintf(stderr, "video %s: recorder: cannot start its thread: %s\n", in,
                av_err2str(ret));
        goto fail;
    }
    r->thread_started = 1;
    if ((ret = source_recorder_attach(src, r)) < 0) {
        fprintf(stderr, "video %s: recorder: the source already has one\n", in);
        goto fail;
    }
    r->src = src;
    *out = r;
    return 0;

fail:
    video_recorder_close(&r);
    return ret;
}

int video_clip_start(struct video_recorder *r, const char *path, double t_start)
{
    VIDEO_ASSERT(r && path);
    struct clip *c = calloc(1, sizeof *c);
    if (!c || !(c->path = av_strdup(path)) || !(c->par = avcodec_parameters_alloc())) {
        if (c)
            av_free(c->path);
        free(c);
        fprintf(stderr, "video clip %s: %s\n", path, av_err2str(AVERROR(ENOMEM)));
        return AVERROR(ENOMEM);
    }
    c->fd = -1;
    c->last_dts = AV_NOPTS_VALUE;
    c->target = t_start - r->pre;

    /* a free slot first (no file for a refused clip), the file outside the
     * lock (the decode thread waits for it), then the slot again */
    int open_now = 0;
    pthread_mutex_lock(&r->lock);
    VIDEO_ASSERT(!r->closing);
    for (int i = 0; i < r->max_clips; i++)
        open_now += r->clips[i] != NULL;
    pthread_mutex_unlock(&r->lock);
    if (open_now == r->max_clips) {
        fprintf(stderr, "video clip %s: refused: %d clips open already, the most at once\n",
                path, r->max_clips);
        clip_free(c);
        return AVERROR(EBUSY);
    }
    c->fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (c->fd < 0) {
        int ret = AVERROR(errno);
        fprintf(stderr, "video clip %s: cannot create: %s\n", path, av_err2str(ret));
        clip_free(c);
        return ret;
    }
    pthread_mutex_lock(&r->lock);
    int slot = -1;
    for (int i = 0; i < r->max_clips && slot < 0; i++)
        if (!r->clips[i])
            slot = i;
    if (slot < 0) { /* another thread took the last one meanwhile */
        pthread_mutex_unlock(&r->lock);
        fprintf(stderr, "video clip %s: refused: %d clips open already, the most at once\n",
                path, r->max_clips);
        unlink(path);
        clip_free(c);
        return AVERROR(EBUSY);
    }
    c->id = r->next_id++;
    c->state = CLIP_WAITING;
    clip_bind(r, c);
    r->clips[slot] = c;
    r->st.clips_started++;
    int id = c->id;
    pthread_cond_signal(&r->wake);
    pthread_mutex_unlock(&r->lock);
    return id;
}

int video_clip_stop(struct video_recorder *r, int id, double t_end)
{
    VIDEO_ASSERT(r);
    int ret = 0, found = 0;
    pthread_mutex_lock(&r->lock);
    for (int i = 0; i < r->max_clips && !found; i++) {
        struct clip *c = r->clips[i];
        if (!c || c->id != id)
            continue;
        found = 1;
        c->stopped = 1;
        if (c->state == CLIP_DONE) { /* it ended already: its slot is free now */
            ret = c->err;
            r->clips[i] = NULL;
            clip_free(c);
        } else {
            c->stop_set = 1;
            c->t_end = t_end;
            pthread_cond_signal(&r->wake);
        }
    }
    pthread_mutex_unlock(&r->lock);
    if (!found) {
        fprintf(stderr, "video clip #%d: not open (unknown, or stopped and ended)\n", id);
        return AVERROR(ENOENT);
    }
    return ret;
}

void video_recorder_stats(struct video_recorder *r, struct video_recorder_stats *st)
{
    memset(st, 0, sizeof *st);
    if (!r)
        return;
    pthread_mutex_lock(&r->lock);
    *st = r->st;
    st->clips_open = 0;
    for (int i = 0; i < r->max_clips; i++)
        st->clips_open += r->clips[i] && r->clips[i]->state != CLIP_DONE;
    st->ring_bytes = r->bytes;
    st->ring_seconds = 0;
    for (int i = 0; i < r->keys_n && r->newest != AV_NOPTS_VALUE; i++) {
        struct rec_entry *e = entry_at(r, key_at(r, i));
        if (e->gen == r->gen && e->mapped) {
            st->ring_seconds = (r->newest - e->pts) * av_q2d(r->tb);
            break;
        }
    }
    pthread_mutex_unlock(&r->lock);
}

void video_recorder_close(struct video_recorder **rp)
{
    struct video_recorder *r = rp ? *rp : NULL;
    if (!r)
        return;
    if (r->src)
        source_recorder_detach(r->src); /* no packet comes in after this */
    if (r->thread_started) {
        pthread_mutex_lock(&r->lock);
        r->closing = 1;
        pthread_cond_signal(&r->wake);
        pthread_mutex_unlock(&r->lock);
        pthread_join(r->thread, NULL);
    }
    for (int i = 0; r->clips && i < r->max_clips; i++)
        clip_free(r->clips[i]); /* ended (by the thread), not stopped */
    for (int i = 0; i < r->cap; i++)
        av_packet_free(&r->ring[i].pkt);
    free(r->ring);
    free(r->keys);
    free(r->clips);
    avcodec_parameters_free(&r->par);
    av_packet_free(&r->out);
    av_free(r->input);
    pthread_cond_destroy(&r->wake);
    pthread_mutex_destroy(&r->lock);
    free(r);
    *rp = NULL;
}
