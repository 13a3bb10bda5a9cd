/*
 * cgroup.c — the per-client control groups of cgroup.h.
 *
 * Finding the hierarchies: /proc/self/cgroup says where databusd is in
 * each ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1), /proc/self/mounts
 * where each is mounted. v2 is used when databusd's own group offers the
 * cpu and memory controllers and lets databusd delegate them to a
 * subgroup; else v1 when the cpu or memory hierarchy takes a new
 * directory. Everything is made under databusd's own group, so a
 * container's limits keep applying, and named after databusd's pid, so
 * two databusd on one host never share a group; groups left by a
 * databusd that died are removed at the next start.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"

enum ctl { CTL_V2, CTL_CPU, CTL_MEMORY };

struct hier {
	enum ctl ctl;
	char base[PATH_MAX]; /* .../databus-<pid> */
};

struct cgroups {
	struct hier h[2];
	size_t n;
	char **clients; /* groups made, for cgroup_close */
	size_t n_clients;
	char shown[2 * PATH_MAX + 16];
};

static int
write_file(const char *dir, const char *name, const char *value)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, err = 0;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return ENAMETOOLONG;
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return errno;
	n = write(fd, value, strlen(value));
	if (n < 0)
		err = errno;
	else if ((size_t)n != strlen(value))
		err = EIO;
	close(fd);
	return err;
}

/* Where databusd is in the hierarchy whose /proc/self/cgroup controller
 * list holds `want` ("" for v2); false when none does. */
static bool
own_group(const char *want, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/cgroup", "re");
	char line[PATH_MAX + 64];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		char *ctls = strchr(line, ':'), *path, *tok, *save;

		if (ctls == NULL || (path = strchr(++ctls, ':')) == NULL)
			continue;
		*path++ = '\0';
		path[strcspn(path, "\n")] = '\0';
		if (want[0] == '\0') {
			found = ctls[0] == '\0';
		} else {
			for (tok = strtok_r(ctls, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save))
				found = found || strcmp(tok, want) == 0;
		}
		if (found)
			snprintf(out, outlen, "%s", path);
	}
	fclose(f);
	return found;
}

/* Mount point of the v1 hierarchy with controller `want`, or of v2
 * (want ""). */
static bool
mount_point(const char *want, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/mounts", "re");
	char dev[256], dir[PATH_MAX], type[64], opts[1024];
	bool found = false;

	if (f == NULL)
		return false;
	while (!found && fscanf(f, "%255s %4095s %63s %1023s %*[^\n]", dev,
			     dir, type, opts) == 4) {
		char *tok, *save;

		if (want[0] == '\0') {
			found = strcmp(type, "cgroup2") == 0;
		} else if (strcmp(type, "cgroup") == 0) {
			for (tok = strtok_r(opts, ",", &save); tok != NULL;
			     tok = strtok_r(NULL, ",", &save))
				found = found || strcmp(tok, want) == 0;
		}
		if (found)
			snprintf(out, outlen, "%s", dir);
	}
	fclose(f);
	return found;
}

/* Remove databus-<pid> groups (and their client groups) under `parent`
 * whose databusd is gone. Errors are ignored: a group still in use stays. */
static void
sweep_stale(const char *parent)
{
	DIR *d = opendir(parent), *sub;
	struct dirent *e, *c;
	char path[PATH_MAX], cpath[PATH_MAX];
	long pid;

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (sscanf(e->d_name, "databus-%ld", &pid) != 1 || pid <= 0 ||
		    (kill((pid_t)pid, 0) == 0 || errno != ESRCH))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", parent, e->d_name) >=
			(int)sizeof(path) ||
		    (sub = opendir(path)) == NULL)
			continue;
		while ((c = readdir(sub)) != NULL)
			if (c->d_type == DT_DIR && c->d_name[0] != '.' &&
			    snprintf(cpath, sizeof(cpath), "%s/%s", path,
				c->d_name) < (int)sizeof(cpath))
				(void)rmdir(cpath);
		closedir(sub);
		(void)rmdir(path);
	}
	closedir(d);
}

/*
 * cgroup v2 keeps processes out of a group that hands controllers to its
 * children, and databusd's own group holds databusd (under systemd's
 * Delegate=yes, its service's group): databusd moves into a leaf of its
 * own, databus-<pid>-supervisor, and asks again. That leaf is left behind
 * at exit (databusd is in it) and removed at the next start.
 */
static int
leave_parent(const struct hier *h, const char *parent)
{
	char leaf[PATH_MAX], pid[32];
	int err;

	if (snprintf(leaf, sizeof(leaf), "%s-supervisor", h->base) >=
	    (int)sizeof(leaf))
		return ENAMETOOLONG;
	if (mkdir(leaf, 0755) != 0 && errno != EEXIST)
		return errno;
	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	if ((err = write_file(leaf, "cgroup.procs", pid)) != 0) {
		(void)rmdir(leaf);
		return err;
	}
	return write_file(parent, "cgroup.subtree_control", "+cpu +memory");
}

/* Make <mount><own>/databus-<pid> for controller `ctl`; 0 or errno. */
static int
make_base(struct hier *h, enum ctl ctl, const char *want)
{
	char mnt[PATH_MAX], own[PATH_MAX], parent[PATH_MAX];

	if (!mount_point(want, mnt, sizeof(mnt)) ||
	    !own_group(want, own, sizeof(own)))
		return ENOENT;
	if (snprintf(parent, sizeof(parent), "%s%s", mnt,
		strcmp(own, "/") == 0 ? "" : own) >= (int)sizeof(parent))
		return ENAMETOOLONG;
	sweep_stale(parent);
	if (snprintf(h->base, sizeof(h->base), "%s/databus-%ld", parent,
		(long)getpid()) >= (int)sizeof(h->base))
		return ENAMETOOLONG;
	h->ctl = ctl;
	if (mkdir(h->base, 0755) != 0 && errno != EEXIST)
		return errno;
	if (ctl == CTL_V2) {
		int err;

		/* Delegate cpu and memory to databus-<pid>, then to its
		 * client groups (no process lives in databus-<pid>). */
		err = write_file(
		    parent, "cgroup.subtree_control", "+cpu +memory");
		if (err == EBUSY)
			err = leave_parent(h, parent);
		if (err != 0 ||
		    (err = write_file(h->base, "cgroup.subtree_control",
			 "+cpu +memory")) != 0) {
			(void)rmdir(h->base);
			return err;
		}
	}
	return 0;
}

struct cgroups *
cgroup_open(char *why, size_t whylen)
{
	struct cgroups *cg = calloc(1, sizeof(*cg));
	int e2, ecpu, emem;

	if (cg == NULL) {
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	if ((e2 = make_base(&cg->h[0], CTL_V2, "")) == 0) {
		cg->n = 1;
		return cg;
	}
	if ((ecpu = make_base(&cg->h[cg->n], CTL_CPU, "cpu")) == 0)
		cg->n++;
	if ((emem = make_base(&cg->h[cg->n], CTL_MEMORY, "memory")) == 0)
		cg->n++;
	if (cg->n > 0)
		return cg;
	snprintf(why, whylen,
	    "no writable cgroup (v2 with cpu and memory delegated: %s; v1 "
	    "cpu: %s; v1 memory: %s)",
	    strerror(e2), strerror(ecpu), strerror(emem));
	free(cg);
	return NULL;
}

/* Write the client's limits into its group `dir` of hierarchy `h`. */
static void
set_limits(const struct hier *h, const char *dir, uint32_t cpu_weight,
    uint64_t memory_max)
{
	char v[32];

	switch (h->ctl) {
	case CTL_V2:
		snprintf(v, sizeof(v), "%u", cpu_weight ? cpu_weight : 100);
		(void)write_file(dir, "cpu.weight", v);
		if (memory_max != 0)
			snprintf(v, sizeof(v), "%llu",
			    (unsigned long long)memory_max);
		else
			snprintf(v, sizeof(v), "max");
		(void)write_file(dir, "memory.max", v);
		break;
	case CTL_CPU:
		snprintf(v, sizeof(v), "%llu",
		    (unsigned long long)(cpu_weight ? cpu_weight : 100) *
			1024 / 100);
		(void)write_file(dir, "cpu.shares", v);
		break;
	case CTL_MEMORY:
		/* What a worker allocated before it was moved goes with it. */
		(void)write_file(dir, "memory.move_charge_at_immigrate", "3");
		snprintf(v, sizeof(v), "%lld",
		    memory_max != 0 ? (long long)memory_max : -1LL);
		(void)write_file(dir, "memory.limit_in_bytes", v);
		break;
	}
}

static int
remember(struct cgroups *cg, const char *client)
{
	char **v;

	for (size_t i = 0; i < cg->n_clients; i++)
		if (strcmp(cg->clients[i], client) == 0)
			return 0;
	v = realloc(cg->clients, (cg->n_clients + 1) * sizeof(*v));
	if (v == NULL)
		return ENOMEM;
	cg->clients = v;
	if ((v[cg->n_clients] = strdup(client)) == NULL)
		return ENOMEM;
	cg->n_clients++;
	return 0;
}

int
cgroup_attach(struct cgroups *cg, const char *client, uint32_t cpu_weight,
    uint64_t memory_max, pid_t pid)
{
	char dir[PATH_MAX], p[32];
	int err;

	if (cg == NULL)
		return ENOENT;
	if ((err = remember(cg, client)) != 0)
		return err;
	snprintf(p, sizeof(p), "%ld", (long)pid);
	for (size_t i = 0; i < cg->n; i++) {
		if (snprintf(dir, sizeof(dir), "%s/%s", cg->h[i].base,
			client) >= (int)sizeof(dir))
			return ENAMETOOLONG;
		if (mkdir(dir, 0755) != 0 && errno != EEXIST)
			return errno;
		set_limits(&cg->h[i], dir, cpu_weight, memory_max);
		if ((err = write_file(dir, "cgroup.procs", p)) != 0)
			return err;
	}
	return 0;
}

const char *
cgroup_name(struct cgroups *cg, const char *client)
{
	bool made = false;

	if (cg == NULL)
		return "";
	for (size_t i = 0; i < cg->n_clients; i++)
		made = made || strcmp(cg->clients[i], client) == 0;
	if (!made)
		return "";
	cg->shown[0] = '\0';
	for (size_t i = 0, used = 0; i < cg->n && used < sizeof(cg->shown);
	     i++) {
		int n = snprintf(cg->shown + used, sizeof(cg->shown) - used,
		    "%s%s/%s", i > 0 ? "," : "", cg->h[i].base, client);

		if (n < 0)
			break;
		used += (size_t)n;
	}
	return cg->shown;
}

void
cgroup_close(struct cgroups *cg)
{
	char dir[PATH_MAX];

	if (cg == NULL)
		return;
	for (size_t i = 0; i < cg->n; i++) {
		for (size_t k = 0; k < cg->n_clients; k++)
			if (snprintf(dir, sizeof(dir), "%s/%s", cg->h[i].base,
				cg->clients[k]) < (int)sizeof(dir))
				(void)rmdir(dir);
		(void)rmdir(cg->h[i].base);
	}
	for (size_t k = 0; k < cg->n_clients; k++)
		free(cg->clients[k]);
	free(cg->clients);
	free(cg);
}
