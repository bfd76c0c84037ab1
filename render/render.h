/*
 * render.h — render/'s one public header: drawing detections into RGB frames,
 * the live SDL2 window with its HUD and keys, and a PNG writer.
 *
 * render/ sees frames and detections, never the model's or video's insides:
 * a frame is a packed RGB24 buffer (uint8_t *rgb, width, height, stride in
 * bytes, R first) and a detection is struct render_det below (app/ converts).
 * It does not include video/ or model/ headers, and this header includes no
 * SDL header, so app/ can use it without SDL's flags.
 *
 * Two halves:
 *   - render_style + render_draw: software drawing of boxes, "name 0.87" labels
 *     (SDL2_ttf) and an optional stamp INTO the caller's RGB buffer. Needs no
 *     display. Annotate mode draws the frames it encodes with it, and the
 *     window draws the frames it shows with it too, so files and windows look
 *     the same.
 *   - render_window: the SDL2 window on the main thread — shows a drawn frame
 *     letterboxed (aspect kept), resizable, fullscreen toggle, a HUD and a help
 *     overlay drawn at window resolution on top, keys mapped to events, PNG
 *     screenshots.
 *
 * Errors: functions that can fail return 0 or a negative RENDER_E* code, with
 * a one-line "render: ..." message on stderr already printed — except
 * RENDER_NO_DISPLAY, which is silent so the caller can print its own advice
 * ("no display: use annotate or bench") and exit 2.
 */
#ifndef VDETECT_RENDER_H
#define VDETECT_RENDER_H

#include <stdint.h>

enum {
    RENDER_ERR = -1,        /* anything else (SDL/TTF failure, out of memory, I/O) */
    RENDER_NO_DISPLAY = -2, /* no usable video display (render_window_open only) */
    RENDER_NO_FONT = -3,    /* no font file found / loadable */
};

/* One detection in frame pixels, torchvision's convention (x1,y1 top-left,
 * x2,y2 bottom-right, floats). Boxes may extend past the frame: they are
 * clipped, never a crash. name may be NULL (then "class <label>" is shown);
 * it is only read during the call. */
struct render_det {
    float x1, y1, x2, y2;
    int label;               /* class index: picks the colour (stable per class) */
    float score;             /* 0..1, shown with two decimals */
    const char *name;        /* UTF-8 class name, or NULL */
    int has_color;           /* 1: draw in color (e.g. the model file's colour for the
                                class); 0: the palette's colour for label */
    uint8_t color[3];        /* R G B, read when has_color */
    int track_id;            /* > 0: the tracker's identity: the label reads "#ID name
                                0.87" and, without has_color, the colour is the ID's */
};

/* ---- drawing into frames --------------------------------------------- */

/*
 * Fonts and colours. Opaque. font_path NULL means: $VDETECT_FONT if set, else
 * the first existing of a list of known system paths (DejaVu Sans from
 * Debian's fonts-dejavu-core, Liberation, Noto, FreeFont, ...), else
 * assets/fonts/ next to the executable or in the working directory. No
 * fontconfig. Text size follows the frame height (about 1/36 of it, 10..64
 * px); the font is reopened only when the frame height changes.
 *
 * Threads: render_draw may be called from any thread (annotate draws on a
 * worker, the window on the main thread); calls on one style serialise on
 * its lock, and every SDL2_ttf call of render/ on one process-wide lock.
 * Close only when no thread is drawing with it. Needs no display and no
 * SDL_Init. Returns 0, RENDER_NO_FONT or RENDER_ERR (message printed).
 */
struct render_style;
int render_style_open(struct render_style **out, const char *font_path);
/* Accepts NULL and *st == NULL; nulls *st. */
void render_style_close(struct render_style **st);

/* The colour of a class (stable: depends on label only; well-separated
 * hues by golden-ratio stepping). rgb[3] receives R, G, B. */
void render_class_color(int label, uint8_t rgb[3]);

struct render_draw_options {
    int show_boxes;          /* draw rectangles (0: nothing of the detections) */
    int show_labels;         /* draw "name 0.87" labels above the boxes */
    float min_score;         /* detections with score < min_score are skipped */
    const char *stamp;       /* optional text (frame number, time) drawn in the
                                bottom-left corner on a dark band; NULL: none */
    const struct render_trail *trails;   /* paths drawn under the boxes; NULL: none */
    int ntrails;
    const float (*lines)[4];  /* segments x1, y1, x2, y2 drawn in yellow under the boxes
                                 (e.g. count lines); NULL: none */
    int nlines;
    const struct render_zone *zones;   /* outlined under the boxes, named; NULL: none */
    int nzones;
};
/* A named polygon (a zone): n >= 2 points x[i], y[i] in frame pixels, closed,
 * outlined in cyan, or in orange when occupied; the name at its top-left. */
struct render_zone {
    const float *x, *y;
    int n;
    const char *name;   /* NULL or "": none */
    int occupied;
};
/* The recent path of a tracked object: n points (x, y in frame pixels, oldest
 * first) joined by 2-pixel lines in color, or without has_color in the colour
 * of track id (as its box: render_det's rule). */
struct render_trail {
    const float (*xy)[2];
    int n;
    int id;
    int has_color;
    uint8_t color[3];
};
/* Defaults: boxes and labels on, min_score 0, no stamp. */
void render_draw_options_init(struct render_draw_options *o);

/* A rectangle in pixels: [x, x + w) x [y, y + h). w == 0: none. */
struct render_rect {
    int x, y, w, h;
};

/*
 * Draw dets[0..n-1] into the RGB24 frame, in place: all boxes first, then
 * all labels (so no box line crosses a label), each in array order. Box
 * lines are max(2, h/240) px thick and lie inside the box rectangle: the
 * outer edge of the line is at floor(x1),floor(y1) and ceil(x2)-1,ceil(y2)-1
 * (clipped to the frame; non-finite or empty boxes are skipped). Labels sit
 * on a filled rectangle in the class colour, text white or black, whichever
 * contrasts more, placed so that no two labels overlap (render_label_layout).
 * Pixels outside boxes, labels and stamp are untouched. o NULL: defaults.
 * Returns 0 or RENDER_ERR (message printed; the frame may be half drawn).
 */
int render_draw(struct render_style *st, uint8_t *rgb, int w, int h, int stride,
                const struct render_det *dets, int n, const struct render_draw_options *o);

/*
 * Where render_draw puts the labels of dets[0..n-1] in a w x h frame: rects[i]
 * is detection i's label rectangle, or w == 0 for none (hidden by min_score,
 * box outside the frame, or no room). Labels are placed best score first
 * (equal scores in array order), each at the first spot that lies in the
 * frame and overlaps no label placed before it: above the box, inside its
 * top, below it, inside its bottom — left-aligned with the box, then
 * right-aligned. When "name 0.87" fits nowhere, "0.87" alone is tried at the
 * same spots; when that fits nowhere either, the label is skipped (the box
 * keeps its colour). So a lone box's label sits just above its top-left
 * corner, or inside its top at the frame's top edge. Ignores
 * show_boxes/show_labels. Returns how many were placed, or RENDER_ERR.
 */
int render_label_layout(struct render_style *st, const struct render_det *dets, int n, int w,
                        int h, const struct render_draw_options *o, struct render_rect *rects);

/* ---- PNG --------------------------------------------------------------- */

/* Write an RGB24 image as a compressed, lossless PNG (SDL2_image: 8-bit
 * RGBA, every pixel opaque). path is created or truncated, so pass a name of
 * your own (the view's screenshot passes a partial file that it renames into
 * place once complete).
 * 0 or RENDER_ERR (message printed; a partly written regular file is
 * removed). */
int render_png_write(const char *path, const uint8_t *rgb, int w, int h, int stride);

/* ---- the window ------------------------------------------------------ */

/* What the window draws over the frame, filled by the caller for each
 * present. Negative figures mean "not known yet" and are shown as "-".
 * The HUD panel's lines and what they mean (view --help says the same):
 *   source  N fps   frames/s arriving from the source
 *   detect  N fps   detector results/s
 *   display N fps   frames/s put on the screen
 *   dropped N       frames the detector never saw (live source, detector behind)
 *   box age N ms    how much older the frame the boxes were found on is than
 *                   the frame shown (0: the frame's own boxes)
 *   lag     N ms    capture (or decode) of the shown frame -> on the screen
 *   score >= X      the display threshold
 * Overlays are drawn last, over the frame and its boxes, in this order: the
 * HUD panel, the PAUSED badge, the status message, the help. */
struct render_hud {
    double source_fps;
    double detect_fps;
    double display_fps;
    int64_t dropped;
    double result_age_ms;
    double latency_ms;
    float score_thresh;
    int paused;              /* a "PAUSED" badge at the top centre */
    int show_hud;            /* draw the figures panel */
    int show_help;           /* draw the key help (centre, over a dimmed frame) */
    const char *status;      /* a short message at the bottom centre (e.g.
                                "labels off"), NULL or "": none */
    const char *mode;        /* an extra HUD line (e.g. "display all"); NULL: none */
    const char *extra;       /* further HUD lines, '\n' between them (at most 3 shown,
                                63 bytes each; e.g. tracking's counts); NULL: none */
    /* The detections drawn in the frame, in frame pixels: the HUD panel goes
     * where it covers none of them (and their labels): into the letterbox
     * band when it fits there, else the frame corner (then edge middle) whose
     * detection area (boxes and where their labels may be) under the panel is
     * smallest (top-left when several are free; the place in use is kept until
     * another is strictly better; translucent when none is free). NULL:
     * top-left. */
    const struct render_det *dets;
    int ndets;
};

enum render_event_type {
    RENDER_EV_NONE = 0,
    RENDER_EV_QUIT,          /* q, Esc, window close, SIGINT seen by SDL */
    RENDER_EV_PAUSE,         /* space */
    RENDER_EV_THRESH_UP,     /* + = (keypad + too) */
    RENDER_EV_THRESH_DOWN,   /* - (keypad - too) */
    RENDER_EV_TOGGLE_LABELS, /* l */
    RENDER_EV_TOGGLE_BOXES,  /* b */
    RENDER_EV_TOGGLE_HUD,    /* h */
    RENDER_EV_SCREENSHOT,    /* s */
    RENDER_EV_FULLSCREEN,    /* f — already toggled by the window; informational */
    RENDER_EV_HELP,          /* ? (also F1) */
    RENDER_EV_SEEK,          /* Left/Right: seek by render_event.seek seconds */
    RENDER_EV_STEP,          /* . : one frame forward (while paused) */
    RENDER_EV_REDRAW,        /* exposed/resized: present again if nothing new is coming */
    RENDER_EV_WAKE,          /* render_window_wake() was called */
};

/* Seek steps: Left/Right 5 s, with Shift (or Up/Down) 60 s. */
#define RENDER_SEEK_SHORT 5.0
#define RENDER_SEEK_LONG 60.0

struct render_event {
    enum render_event_type type;
    double seek;             /* RENDER_EV_SEEK: seconds, negative backwards */
};

/*
 * Opaque; lives on the main thread (SDL video calls stay on one thread).
 *
 * render_window_open: init SDL video (and TTF), open a resizable window of
 * w x h (clamped to the screen), an SDL renderer and the HUD font (same lookup
 * as render_style_open with NULL). Returns 0, RENDER_NO_DISPLAY quickly and
 * silently (on Unix neither DISPLAY nor WAYLAND_DISPLAY set and no
 * SDL_VIDEODRIVER chosen — a KMS console needs SDL_VIDEODRIVER=kmsdrm; SDL
 * video init fails; or the driver is "dummy" or "offscreen" — unless
 * VDETECT_ALLOW_OFFSCREEN=1 is set, which tests and headless CI use to get a
 * real renderer without a screen), RENDER_NO_FONT or RENDER_ERR (printed).
 * Only one window at a time (a second open is RENDER_ERR).
 */
struct render_window;
int render_window_open(struct render_window **out, const char *title, int w, int h);
/* Accepts NULL and *win == NULL; nulls *win; SDL_Quit/TTF_Quit when it is the
 * last SDL user of render/. */
void render_window_close(struct render_window **win);

/*
 * Show a frame (already drawn with render_draw) letterboxed in the window,
 * then the HUD / help per hud (NULL: neither), then present. The pixels are
 * copied (uploaded to a streaming texture and kept for screenshots); rgb can
 * be reused as soon as this returns. rgb NULL: show the last frame again
 * (after RENDER_EV_REDRAW, while paused, for HUD updates).
 * 0 or RENDER_ERR (message printed).
 */
int render_window_present(struct render_window *win, const uint8_t *rgb, int w, int h,
                          int stride, const struct render_hud *hud);

/* Next pending event without waiting: 1 with *ev filled, 0 when none left
 * (SDL >= 2.26 ends a round of polling at a sentinel, so an event pushed
 * after a 0 shows up in the next round — loop `while (poll(...))` per frame).
 * Events not listed above (mouse, other keys) are consumed silently. */
int render_window_poll(struct render_window *win, struct render_event *ev);
/* As poll, waiting up to timeout_ms (< 0: forever) for an event. */
int render_window_wait(struct render_window *win, struct render_event *ev, int timeout_ms);
/* Thread-safe, from any thread while the window is open: make a waiting
 * render_window_wait return RENDER_EV_WAKE (e.g. a new result is queued). */
void render_window_wake(struct render_window *win);

/* Set the window title (UTF-8). */
void render_window_set_title(struct render_window *win, const char *title);

/* Toggle desktop fullscreen (the 'f' key does this itself). 0 or RENDER_ERR. */
int render_window_toggle_fullscreen(struct render_window *win);
int render_window_is_fullscreen(const struct render_window *win);

/* Save the last presented frame — as drawn (boxes, labels, stamp), at full
 * frame resolution, WITHOUT the HUD/help overlay and letterbox — as PNG.
 * 0, or RENDER_ERR (nothing presented yet, or I/O error; message printed). */
int render_window_screenshot(struct render_window *win, const char *png_path);

#endif
