/*
 * The simulator's plot, an SVG file of a finished simulation (struct sim,
 * sim_int.h): no library, a few hundred elements whatever the fleet size.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sched.h"
#include "sim.h"
#include "sim_int.h"
#include "xmalloc.h"

/*
 * The plot: cumulative ready machines, completions and losses over time,
 * a dashed line at each transfer start, max wait and max targets marked.
 * Curves are cut to one step per pixel column, so the file stays small
 * whatever the fleet size.
 */
#define SVG_W	960
#define SVG_H	540
#define SVG_L	72
#define SVG_R	230
#define SVG_T	56
#define SVG_B	64
#define SVG_PW	(SVG_W - SVG_L - SVG_R)
#define SVG_PH	(SVG_H - SVG_T - SVG_B)

struct sim_svg {
	FILE	*f;
	double	 unit;		/* ms per axis unit */
	double	 xmax;		/* in axis units */
	double	 ymax;
};

static double
sim_svg_x(const struct sim_svg *g, uint64_t ms)
{
	return (SVG_L + ((double)ms / g->unit) / g->xmax * SVG_PW);
}

static double
sim_svg_y(const struct sim_svg *g, double c)
{
	return (SVG_T + SVG_PH - c / g->ymax * SVG_PH);
}

static double
sim_nice_step(double range, int target)
{
	double	raw = range / target, mag, f;

	if (raw <= 0)
		return (1);
	mag = pow(10, floor(log10(raw)));
	f = raw / mag;
	if (f <= 1)
		f = 1;
	else if (f <= 2)
		f = 2;
	else if (f <= 5)
		f = 5;
	else
		f = 10;
	return (f * mag);
}

static void
sim_svg_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", f);
			break;
		case '<':
			fputs("&lt;", f);
			break;
		case '>':
			fputs("&gt;", f);
			break;
		case '"':
			fputs("&quot;", f);
			break;
		default:
			fputc(*s, f);
			break;
		}
	}
}

static void
sim_svg_steps(const struct sim_svg *g, const uint64_t *t, size_t n,
    const char *color)
{
	double	x, lastx = -1, y;
	size_t	i;

	fprintf(g->f, "<path fill=\"none\" stroke=\"%s\" stroke-width=\"2\" "
	    "d=\"M%.1f,%.1f", color, (double)SVG_L, sim_svg_y(g, 0));
	for (i = 0; i < n; i++) {
		/* Only the last step inside a pixel column is drawn. */
		if (i + 1 < n && sim_svg_x(g, t[i + 1]) - sim_svg_x(g, t[i]) <
		    0.5)
			continue;
		x = sim_svg_x(g, t[i]);
		y = sim_svg_y(g, (double)(i + 1));
		if (x != lastx)
			fprintf(g->f, " H%.1f", x);
		fprintf(g->f, " V%.1f", y);
		lastx = x;
	}
	fprintf(g->f, " H%.1f\"/>\n", (double)(SVG_L + SVG_PW));
}

static int
sim_u64_cmp(const void *a, const void *b)
{
	uint64_t	x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x < y ? -1 : x > y);
}

int
sim_write_svg(const struct sim *sim, FILE *f, const char *title)
{
	struct sim_svg	 g;
	const struct sim_rec *r;
	uint64_t	*ready, *ok, *lost, tmax = 0, start, t;
	size_t		 i, nready = 0, nok = 0, nlost = 0, ly;
	double		 step, v, x, y;
	const char	*uname;
	char		 label[64];

	sim_sort(sim);
	ready = xcalloc(sim->nrecs + 1, sizeof(*ready));
	ok = xcalloc(sim->nrecs + 1, sizeof(*ok));
	lost = xcalloc(sim->nrecs + 1, sizeof(*lost));
	for (i = 0; i < sim->nrecs; i++) {
		r = &sim->recs[i];
		start = sim->ri[r->run - 1].start;
		if (r->ready_at >= 0)
			ready[nready++] = start + (uint64_t)r->ready_at;
		if (r->done_at < 0)
			continue;
		t = start + (uint64_t)r->done_at;
		if (r->first_final == SCHED_M_SUCCEEDED ||
		    r->first_final == SCHED_M_PENDING_BOOT)
			ok[nok++] = t;
		else
			lost[nlost++] = t;
		if (t > tmax)
			tmax = t;
	}
	qsort(ready, nready, sizeof(*ready), sim_u64_cmp);
	qsort(ok, nok, sizeof(*ok), sim_u64_cmp);
	qsort(lost, nlost, sizeof(*lost), sim_u64_cmp);
	if (nready > 0 && ready[nready - 1] > tmax)
		tmax = ready[nready - 1];
	for (i = 0; i < sim->nwaves; i++) {
		t = sim->ri[sim->waves[i].run - 1].start +
		    (uint64_t)sim->waves[i].start;
		if (t > tmax)
			tmax = t;
	}
	if (sim->sc->opts.max_wait != SCHED_NEVER && sim->nruns == 1 &&
	    sim->sc->opts.max_wait > tmax)
		tmax = sim->sc->opts.max_wait;
	if (tmax == 0)
		tmax = 1000;

	memset(&g, 0, sizeof(g));
	g.f = f;
	if (tmax <= 1200 * 1000ULL) {
		g.unit = 1000;
		uname = "s";
	} else if (tmax <= 72000 * 1000ULL) {
		g.unit = 60000;
		uname = "min";
	} else {
		g.unit = 3600000;
		uname = "h";
	}
	step = sim_nice_step(tmax / g.unit * 1.02, 8);
	g.xmax = ceil(tmax / g.unit * 1.02 / step) * step;
	g.ymax = (double)(sim->nrecs > 0 ? sim->nrecs : 1);

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
	    "font-size=\"12\">\n", SVG_W, SVG_H, SVG_W, SVG_H);
	fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n",
	    SVG_W, SVG_H);
	fprintf(f, "<text x=\"%d\" y=\"28\" font-size=\"15\" "
	    "font-weight=\"bold\">", SVG_L);
	sim_svg_text(f, title);
	fprintf(f, "</text>\n");

	/* Axes, grid and ticks. */
	for (v = 0; v <= g.xmax + step / 2; v += step) {
		x = SVG_L + v / g.xmax * SVG_PW;
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#e6e6e6\"/>\n", x, SVG_T, x, SVG_T + SVG_PH);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">"
		    "%g</text>\n", x, SVG_T + SVG_PH + 18, v);
	}
	step = sim_nice_step(g.ymax, 6);
	g.ymax = ceil(g.ymax / step) * step;
	for (v = 0; v <= g.ymax + step / 2; v += step) {
		y = sim_svg_y(&g, v);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#e6e6e6\"/>\n", SVG_L, y, SVG_L + SVG_PW, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%g"
		    "</text>\n", SVG_L - 6, y + 4, v);
	}
	fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
	    "fill=\"none\" stroke=\"black\"/>\n", SVG_L, SVG_T, SVG_PW,
	    SVG_PH);
	fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">time "
	    "since the start (%s)</text>\n", SVG_L + SVG_PW / 2, SVG_H - 18,
	    uname);
	fprintf(f, "<text transform=\"translate(18,%d) rotate(-90)\" "
	    "text-anchor=\"middle\">machines (cumulative)</text>\n",
	    SVG_T + SVG_PH / 2);

	/* Markers: max wait and max targets. */
	if (sim->sc->opts.max_wait != SCHED_NEVER && sim->nruns == 1 &&
	    !sim->sc->opts.unicast) {
		x = sim_svg_x(&g, sim->sc->opts.max_wait);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#7f7f7f\" stroke-dasharray=\"2,3\"/>\n", x,
		    SVG_T, x, SVG_T + SVG_PH);
		fprintf(f, "<text x=\"%.1f\" y=\"%d\" fill=\"#7f7f7f\" "
		    "text-anchor=\"end\">max wait</text>\n", x - 3,
		    SVG_T + SVG_PH - 6);
	}
	if (sim->sc->opts.max_targets != 0 && !sim->sc->opts.unicast &&
	    sim->sc->opts.max_targets <= g.ymax) {
		y = sim_svg_y(&g, sim->sc->opts.max_targets);
		fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
		    "stroke=\"#ff7f0e\" stroke-dasharray=\"2,3\"/>\n", SVG_L,
		    y, SVG_L + SVG_PW, y);
		fprintf(f, "<text x=\"%d\" y=\"%.1f\" fill=\"#ff7f0e\">max "
		    "targets %" PRIu32 "</text>\n", SVG_L + 4, y - 4,
		    sim->sc->opts.max_targets);
	}

	/* Transfer starts; labelled when there are few. */
	for (i = 0; i < sim->nwaves; i++) {
		t = sim->ri[sim->waves[i].run - 1].start +
		    (uint64_t)sim->waves[i].start;
		x = sim_svg_x(&g, t);
		fprintf(f, "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
		    "stroke=\"#9467bd\" stroke-dasharray=\"6,4\"/>\n", x,
		    SVG_T, x, SVG_T + SVG_PH);
		if (sim->nwaves <= 12) {
			snprintf(label, sizeof(label), "wave %u: %zu %s",
			    sim->waves[i].index, sim->waves[i].n,
			    sim->waves[i].path == SCHED_PATH_MULTICAST ?
			    "mcast" : "ucast");
			fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" "
			    "fill=\"#9467bd\" font-size=\"11\">%s</text>\n",
			    x + 3, (double)SVG_T + 14 + 13 * (i % 6), label);
		}
	}

	sim_svg_steps(&g, ready, nready, "#1f77b4");
	sim_svg_steps(&g, ok, nok, "#2ca02c");
	sim_svg_steps(&g, lost, nlost, "#d62728");

	/* Legend. */
	ly = SVG_T + 10;
	x = SVG_L + SVG_PW + 16;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#1f77b4\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">ready (%zu)</text>\n", x, ly, x + 24, ly, x + 30,
	    ly + 4, nready);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#2ca02c\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">updated (%zu)</text>\n", x, ly, x + 24, ly, x + 30,
	    ly + 4, nok);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#d62728\" stroke-width=\"2\"/><text x=\"%.1f\" "
	    "y=\"%zu\">error/missed/failed (%zu)</text>\n", x, ly, x + 24,
	    ly, x + 30, ly + 4, nlost);
	ly += 20;
	fprintf(f, "<line x1=\"%.1f\" y1=\"%zu\" x2=\"%.1f\" y2=\"%zu\" "
	    "stroke=\"#9467bd\" stroke-dasharray=\"6,4\"/><text x=\"%.1f\" "
	    "y=\"%zu\">transfer start (%zu)</text>\n", x, ly, x + 24, ly,
	    x + 30, ly + 4, sim->nwaves);
	ly += 28;
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">updated: succeeded or</text>\n", x, ly);
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">pending_boot, at the time</text>\n", x, ly + 14);
	fprintf(f, "<text x=\"%.1f\" y=\"%zu\" font-size=\"11\" "
	    "fill=\"#555\">the run was done with it</text>\n", x, ly + 28);
	fprintf(f, "</svg>\n");
	free(ready);
	free(ok);
	free(lost);
	return (ferror(f) ? -1 : 0);
}
