/*
 * drv_demo.c — the `demo` puller: invents sample passengers, like the demo
 * client of the original Databus, so that a fresh install has something
 * flowing through every stage.
 *
 * "kind": "mail" produces e-mails (metadata from/to/subject/date, a
 * body.txt attachment and, for every other mail, a report.xlsx — a real,
 * minimal spreadsheet — so that a require_attachment "*.xlsx" filter has
 * both cases to handle); "kind": "invoice" produces invoices (metadata
 * number/customer/amount, invoice.json and invoice.txt). Each pull emits
 * "per_drive" items. External ids are "<kind>-<start ms>-<n>", where the
 * start time is taken at init, so they stay unique across restarts.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbs_error.h"
#include "driver.h"

enum demo_kind {
	DEMO_MAIL,
	DEMO_INVOICE,
};

struct demo {
	enum demo_kind kind;
	uint64_t per_drive;
	long long stamp; /* ms at init: part of every external id */
	uint64_t next;   /* n of the next item */
};

static const char *const senders[] = {
    "alice@example.com",
    "bob@example.org",
    "carol@example.net",
    "dave@example.com",
    "erin@example.org",
};
static const char *const subjects[] = {
    "Monthly report",
    "Question about invoice",
    "Meeting notes",
    "Order confirmation",
    "Quarterly figures",
    "Delivery schedule",
    "Price list update",
};
static const char *const customers[] = {
    "Acme GmbH",
    "Globex AG",
    "Initech Ltd",
    "Umbrella SA",
    "Stark Industries",
    "Wayne Enterprises",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------ a tiny xlsx file */

/* A growable byte buffer for the zip writer. */
struct bytes {
	unsigned char *p;
	size_t len, cap;
	int failed;
};

static void
put(struct bytes *b, const void *data, size_t len)
{
	if (b->failed)
		return;
	if (b->len + len > b->cap) {
		size_t cap = b->cap != 0 ? b->cap * 2 : 4096;
		unsigned char *p;

		while (cap < b->len + len)
			cap *= 2;
		p = realloc(b->p, cap);
		if (p == NULL) {
			b->failed = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, data, len);
	b->len += len;
}

static void
put16(struct bytes *b, unsigned v)
{
	unsigned char x[2] = {v & 0xff, (v >> 8) & 0xff};

	put(b, x, 2);
}

static void
put32(struct bytes *b, uint32_t v)
{
	unsigned char x[4] = {
	    v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, (v >> 24) & 0xff};

	put(b, x, 4);
}

static uint32_t
crc32(const void *data, size_t len)
{
	const unsigned char *p = data;
	uint32_t c = 0xffffffffu;
	size_t i;
	int k;

	for (i = 0; i < len; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320u & (0u - (c & 1)));
	}
	return c ^ 0xffffffffu;
}

struct zip_part {
	const char *name;
	char *data;
	size_t len;
};

/*
 * Write `parts` as a ZIP archive with stored (uncompressed) members: the
 * container format of Office Open XML. DOS date 1 Jan 2024 keeps the
 * output deterministic.
 */
static void
zip_write(struct bytes *b, const struct zip_part *parts, size_t n)
{
	uint32_t offsets[8];
	size_t i, cd_start, cd_len;

	for (i = 0; i < n; i++) {
		uint32_t crc = crc32(parts[i].data, parts[i].len);
		size_t nlen = strlen(parts[i].name);

		offsets[i] = (uint32_t)b->len;
		put32(b, 0x04034b50);
		put16(b, 20);                       /* version needed */
		put16(b, 0);                        /* flags */
		put16(b, 0);                        /* stored */
		put16(b, 0);                        /* time */
		put16(b, (44 << 9) | (1 << 5) | 1); /* 2024-01-01 */
		put32(b, crc);
		put32(b, (uint32_t)parts[i].len);
		put32(b, (uint32_t)parts[i].len);
		put16(b, (unsigned)nlen);
		put16(b, 0);
		put(b, parts[i].name, nlen);
		put(b, parts[i].data, parts[i].len);
	}
	cd_start = b->len;
	for (i = 0; i < n; i++) {
		size_t nlen = strlen(parts[i].name);

		put32(b, 0x02014b50);
		put16(b, 20); /* made by */
		put16(b, 20); /* needed */
		put16(b, 0);
		put16(b, 0);
		put16(b, 0);
		put16(b, (44 << 9) | (1 << 5) | 1);
		put32(b, crc32(parts[i].data, parts[i].len));
		put32(b, (uint32_t)parts[i].len);
		put32(b, (uint32_t)parts[i].len);
		put16(b, (unsigned)nlen);
		put16(b, 0); /* extra */
		put16(b, 0); /* comment */
		put16(b, 0); /* disk */
		put16(b, 0); /* internal attributes */
		put32(b, 0); /* external attributes */
		put32(b, offsets[i]);
		put(b, parts[i].name, nlen);
	}
	cd_len = b->len - cd_start;
	put32(b, 0x06054b50);
	put16(b, 0);
	put16(b, 0);
	put16(b, (unsigned)n);
	put16(b, (unsigned)n);
	put32(b, (uint32_t)cd_len);
	put32(b, (uint32_t)cd_start);
	put16(b, 0);
}

#define XML_DECL                                                              \
	"<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n"
#define NS_PKG   "http://schemas.openxmlformats.org/package/2006/"
#define NS_DOC   "http://schemas.openxmlformats.org/officeDocument/2006/"
#define NS_SHEET "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
#define CT_SHEET "application/vnd.openxmlformats-officedocument.spreadsheetml"

static const char content_types[] = XML_DECL
    "<Types xmlns=\"" NS_PKG "content-types\">"
    "<Default Extension=\"rels\" ContentType=\"application/"
    "vnd.openxmlformats-package.relationships+xml\"/>"
    "<Default Extension=\"xml\" ContentType=\"application/xml\"/>"
    "<Override PartName=\"/xl/workbook.xml\" ContentType=\"" CT_SHEET
    ".sheet.main+xml\"/>"
    "<Override PartName=\"/xl/worksheets/sheet1.xml\" ContentType=\"" CT_SHEET
    ".worksheet+xml\"/></Types>";
static const char root_rels[] =
    XML_DECL "<Relationships xmlns=\"" NS_PKG "relationships\">"
	     "<Relationship Id=\"rId1\" Type=\"" NS_DOC
	     "relationships/officeDocument\" Target=\"xl/workbook.xml\"/>"
	     "</Relationships>";
static const char workbook[] = XML_DECL
    "<workbook xmlns=\"" NS_SHEET "\" xmlns:r=\"" NS_DOC "relationships\">"
    "<sheets><sheet name=\"Report\" sheetId=\"1\" r:id=\"rId1\"/></sheets>"
    "</workbook>";
static const char workbook_rels[] =
    XML_DECL "<Relationships xmlns=\"" NS_PKG "relationships\">"
	     "<Relationship Id=\"rId1\" Type=\"" NS_DOC
	     "relationships/worksheet\" Target=\"worksheets/sheet1.xml\"/>"
	     "</Relationships>";

/* A one-sheet workbook with a header row and one data row. */
static int
make_xlsx(struct bytes *out, const char *label, const char *amount)
{
	char sheet[1024];
	struct zip_part parts[5] = {
	    {"[Content_Types].xml", (char *)content_types,
		sizeof(content_types) - 1},
	    {"_rels/.rels", (char *)root_rels, sizeof(root_rels) - 1},
	    {"xl/workbook.xml", (char *)workbook, sizeof(workbook) - 1},
	    {"xl/_rels/workbook.xml.rels", (char *)workbook_rels,
		sizeof(workbook_rels) - 1},
	    {"xl/worksheets/sheet1.xml", sheet, 0},
	};
	int n;

	n = snprintf(sheet, sizeof(sheet),
	    XML_DECL "<worksheet xmlns=\"" NS_SHEET "\"><sheetData>"
		     "<row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>Item</t>"
		     "</is></c><c r=\"B1\" t=\"inlineStr\"><is><t>Amount</t>"
		     "</is></c></row><row r=\"2\"><c r=\"A2\" "
		     "t=\"inlineStr\"><is><t>%s</t></is></c><c r=\"B2\">"
		     "<v>%s</v></c></row></sheetData></worksheet>",
	    label, amount);
	if (n < 0 || (size_t)n >= sizeof(sheet))
		return DBS_ETOOBIG;
	parts[4].len = (size_t)n;
	zip_write(out, parts, NELEM(parts));
	return out->failed ? DBS_ENOMEM : DBS_OK;
}

/* ----------------------------------------------------------------- items */

/* Deterministic amount in cents for item n: 100.00 to 9099.99. */
static unsigned long long
amount_cents(uint64_t n)
{
	return 10000 + (n * 7919 + 13) % 900000;
}

static int
emit_mail(struct demo *d, struct drv_sink *sink, uint64_t n, const char *id)
{
	const char *from = senders[n % NELEM(senders)];
	const char *subject = subjects[n % NELEM(subjects)];
	char date[64], subj[128], body[512], label[64], amount[32];
	struct bytes xlsx = {0};
	struct drv_kv md[4];
	struct drv_attachment att[2];
	time_t now = time(NULL);
	struct tm tm;
	size_t n_att = 1;
	int rc;

	gmtime_r(&now, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000", &tm);
	snprintf(subj, sizeof(subj), "%s #%llu", subject,
	    (unsigned long long)n + 1);
	snprintf(body, sizeof(body),
	    "Hello,\n\nthis is demo mail #%llu: %s.\n\nRegards,\n%s\n",
	    (unsigned long long)n + 1, subject, from);
	md[0] = (struct drv_kv){"from", from};
	md[1] = (struct drv_kv){"to", "inbox@demo.example"};
	md[2] = (struct drv_kv){"subject", subj};
	md[3] = (struct drv_kv){"date", date};
	att[0] = (struct drv_attachment){
	    "body.txt", "text/plain", body, strlen(body)};
	if (n % 2 == 0) {
		unsigned long long c = amount_cents(n);

		snprintf(label, sizeof(label), "Report %llu",
		    (unsigned long long)n + 1);
		snprintf(
		    amount, sizeof(amount), "%llu.%02llu", c / 100, c % 100);
		rc = make_xlsx(&xlsx, label, amount);
		if (rc != DBS_OK) {
			free(xlsx.p);
			return rc;
		}
		att[1] = (struct drv_attachment){
		    "report.xlsx", CT_SHEET ".sheet", xlsx.p, xlsx.len};
		n_att = 2;
	}
	rc = drv_emit(sink, id, id, md, NELEM(md), att, n_att);
	free(xlsx.p);
	return rc;
}

static int
emit_invoice(struct demo *d, struct drv_sink *sink, uint64_t n, const char *id)
{
	const char *customer = customers[n % NELEM(customers)];
	unsigned long long c = amount_cents(n);
	char number[48], amount[32], text[512];
	struct drv_kv md[3];
	struct drv_attachment att[2];
	json_t *obj;
	char *json;
	int rc;

	snprintf(number, sizeof(number), "INV-%lld-%llu", d->stamp % 100000,
	    (unsigned long long)n + 1);
	snprintf(amount, sizeof(amount), "%llu.%02llu", c / 100, c % 100);
	obj = json_pack("{s:s, s:s, s:s, s:s}", "number", number, "customer",
	    customer, "amount", amount, "currency", "EUR");
	json = obj != NULL ? json_dumps(obj, JSON_INDENT(2)) : NULL;
	json_decref(obj);
	if (json == NULL)
		return DBS_ENOMEM;
	snprintf(text, sizeof(text),
	    "Invoice %s\nCustomer: %s\nAmount: %s EUR\n", number, customer,
	    amount);
	md[0] = (struct drv_kv){"number", number};
	md[1] = (struct drv_kv){"customer", customer};
	md[2] = (struct drv_kv){"amount", amount};
	att[0] = (struct drv_attachment){
	    "invoice.json", "application/json", json, strlen(json)};
	att[1] = (struct drv_attachment){
	    "invoice.txt", "text/plain", text, strlen(text)};
	rc = drv_emit(sink, id, id, md, NELEM(md), att, NELEM(att));
	free(json);
	return rc;
}

static int
demo_emit(struct demo *d, struct drv_sink *sink, int consume)
{
	uint64_t n, end = d->next + d->per_drive;
	char id[96];
	int rc;

	for (n = d->next; n < end; n++) {
		snprintf(id, sizeof(id), "%s-%lld-%llu",
		    d->kind == DEMO_MAIL ? "mail" : "invoice", d->stamp,
		    (unsigned long long)n);
		rc = d->kind == DEMO_MAIL ? emit_mail(d, sink, n, id)
					  : emit_invoice(d, sink, n, id);
		if (rc == 1)
			break;
		if (rc != DBS_OK)
			return rc;
		if (consume)
			d->next = n + 1;
	}
	return DBS_OK;
}

/* ---------------------------------------------------------------- vtable */

static int
demo_init(struct drv_ctx *ctx, const json_t *settings, void **state, char *err,
    size_t errlen)
{
	static const char *const keys[] = {"kind", "per_drive", NULL};
	struct demo *d;
	const char *kind;
	uint64_t per_drive;
	struct timespec ts;
	int rc;

	*state = NULL;
	rc = drv_settings_only(settings, keys, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_string(
		    settings, "kind", "mail", &kind, err, errlen);
	if (rc == DBS_OK)
		rc = drv_setting_uint(settings, "per_drive", 3, 0, 10000,
		    &per_drive, err, errlen);
	if (rc != DBS_OK)
		return rc;
	if (strcmp(kind, "mail") != 0 && strcmp(kind, "invoice") != 0) {
		snprintf(err, errlen,
		    "kind: expected \"mail\" or \"invoice\", not \"%s\"",
		    kind);
		return DBS_ECONFIG;
	}
	d = calloc(1, sizeof(*d));
	if (d == NULL)
		return DBS_ENOMEM;
	d->kind = strcmp(kind, "mail") == 0 ? DEMO_MAIL : DEMO_INVOICE;
	d->per_drive = per_drive;
	clock_gettime(CLOCK_REALTIME, &ts);
	d->stamp = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	*state = d;
	return DBS_OK;
}

static int
demo_pull(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return demo_emit(state, sink, 1);
}

static int
demo_peek(void *state, struct drv_ctx *ctx, struct drv_sink *sink)
{
	return demo_emit(state, sink, 0);
}

static int
demo_notify(void *state, struct drv_ctx *ctx, const char *external_id,
    const char *source_ref, char *err, size_t errlen)
{
	return DBS_OK;
}

static void
demo_fini(void *state)
{
	free(state);
}

const struct drv_ops drv_demo_ops = {
    .type = "demo",
    .kind = DRV_PULLER,
    .init = demo_init,
    .pull = demo_pull,
    .peek = demo_peek,
    .notify = demo_notify,
    .fini = demo_fini,
};
