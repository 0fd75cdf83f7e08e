/* The network keys of the configuration (DESIGN.md, "Networking"):
 * "provides", "uplink" and a client's "net" with its peers and egress
 * policy; then what joins instances, checked once all are read, and the
 * clients' MAC addresses, which depend on the provider's other clients. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/parse-internal.h"
#include "net/addr.h"
#include "util/json.h"

#define ALLOW_EXPECTED                                                                                    \
	"expected \"tcp/PORT\", \"udp/PORT\" (PORT or FIRST-LAST), \"tcp\", \"udp\" or \"icmp\", each "  \
	"optionally with \"@ADDRESS[/PREFIX]\" (\"tcp/22@192.0.2.0/24\")"

int cfg_parse_provides(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	size_t i;
	json_t *e;

	if (!json_is_array(v))
		return cfg_fail(c, "expected a list of what the instance provides: [\"net\"] or []");
	json_array_foreach(v, i, e) {
		const char *s = sp_json_text(e);

		size_t old = cfg_push_index(c, i);
		if (!s || strcmp(s, "net") != 0)
			return cfg_fail(c, "expected \"net\", the only thing an instance can provide");
		if (inst->provides_net)
			return cfg_fail(c, "\"net\" is listed twice");
		inst->provides_net = true;
		cfg_pop(c, old);
	}
	return 0;
}

int cfg_parse_uplink(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *s = sp_json_text(v);

	if (s && strcmp(s, "none") == 0)
		inst->uplink = SP_UPLINK_NONE;
	else if (s && strcmp(s, "host") == 0)
		inst->uplink = SP_UPLINK_HOST;
	else
		return cfg_fail(c, "expected \"none\" or \"host\"");
	return 0;
}

static int parse_port(const char *s, const char **end, uint16_t *port)
{
	unsigned long n = 0;
	const char *p = s;

	for (; *p >= '0' && *p <= '9' && p - s < 6; p++)
		n = n * 10 + (unsigned long)(*p - '0');
	if (p == s || n < 1 || n > 65535 || (*s == '0'))
		return -1;
	*port = (uint16_t)n;
	*end = p;
	return 0;
}

/* "ADDRESS[/PREFIX]": a network whose host bits are zero. */
static const char *parse_network(const char *s, struct sp_net_allow *a)
{
	char buf[INET_ADDRSTRLEN];
	const char *slash = strchr(s, '/');
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	struct in_addr in;
	unsigned prefix = 32;

	if (len == 0 || len >= sizeof buf)
		return ALLOW_EXPECTED;
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, &in) != 1)
		return "expected an IPv4 address after \"@\" (\"192.0.2.0/24\" or \"192.0.2.7\")";
	if (slash) {
		const char *p = slash + 1;

		if (!*p || (p[0] == '0' && p[1]) || strlen(p) > 2)
			return "expected a prefix length from 0 to 32 after \"/\"";
		prefix = 0;
		for (; *p; p++) {
			if (*p < '0' || *p > '9')
				return "expected a prefix length from 0 to 32 after \"/\"";
			prefix = prefix * 10 + (unsigned)(*p - '0');
		}
		if (prefix > 32)
			return "expected a prefix length from 0 to 32 after \"/\"";
	}
	a->addr = ntohl(in.s_addr);
	a->prefix = (uint8_t)prefix;
	if (prefix < 32 && (a->addr & (0xffffffffu >> prefix)))
		return "expected a network address: the bits after the prefix must be zero";
	if (prefix == 0) /* "@0.0.0.0/0" is any destination, like no "@" */
		a->addr = 0;
	return NULL;
}

/* One egress rule; NULL, or what was expected. */
static const char *parse_allow_rule(const char *s, struct sp_net_allow *a)
{
	static const struct {
		const char *word;
		enum sp_net_proto proto;
	} protos[] = { { "tcp", SP_NET_TCP }, { "udp", SP_NET_UDP }, { "icmp", SP_NET_ICMP } };
	const char *p = s;
	size_t k;

	memset(a, 0, sizeof *a);
	for (k = 0; k < sizeof protos / sizeof protos[0]; k++) {
		size_t n = strlen(protos[k].word);

		if (strncmp(s, protos[k].word, n) == 0 && (s[n] == '\0' || s[n] == '/' || s[n] == '@'))
			break;
	}
	if (k == sizeof protos / sizeof protos[0])
		return ALLOW_EXPECTED;
	a->proto = protos[k].proto;
	p += strlen(protos[k].word);
	a->port_lo = 1;
	a->port_hi = 65535;
	if (*p == '/') {
		if (a->proto == SP_NET_ICMP)
			return "expected no port for \"icmp\"";
		if (parse_port(p + 1, &p, &a->port_lo) < 0)
			return "expected a port from 1 to 65535 after \"/\"";
		a->port_hi = a->port_lo;
		if (*p == '-' && (parse_port(p + 1, &p, &a->port_hi) < 0 || a->port_hi < a->port_lo))
			return "expected a port range FIRST-LAST with FIRST <= LAST, from 1 to 65535";
	}
	if (*p == '@')
		return parse_network(p + 1, a);
	return *p ? ALLOW_EXPECTED : NULL;
}

void sp_net_allow_text(const struct sp_net_allow *a, char *out, size_t n)
{
	static const char *const proto[] = { "tcp", "udp", "icmp" };
	int len = snprintf(out, n, "%s", proto[a->proto]);

	if (a->proto != SP_NET_ICMP && a->port_lo == a->port_hi)
		len += snprintf(out + len, n - (size_t)len, "/%u", a->port_lo);
	else if (a->proto != SP_NET_ICMP && !(a->port_lo == 1 && a->port_hi == 65535))
		len += snprintf(out + len, n - (size_t)len, "/%u-%u", a->port_lo, a->port_hi);
	if (a->prefix) {
		struct in_addr in = { htonl(a->addr) };
		char text[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &in, text, sizeof text);
		if (a->prefix == 32)
			snprintf(out + len, n - (size_t)len, "@%s", text);
		else
			snprintf(out + len, n - (size_t)len, "@%s/%u", text, a->prefix);
	}
}

static int parse_allow(struct ctx *c, json_t *v, struct sp_net *net)
{
	size_t i, n = json_array_size(v);
	json_t *e;

	if (!json_is_array(v))
		return cfg_fail(c, "expected a list of rules such as [\"tcp/443\", \"udp/53\"] ([] for none)");
	net->allow_any = false;
	net->allow = calloc(n ? n : 1, sizeof *net->allow);
	if (!net->allow)
		return cfg_oom(c);
	json_array_foreach(v, i, e) {
		const char *s = sp_json_text(e), *why;
		char buf[VALUE_BUF];

		size_t old = cfg_push_index(c, i);
		if (!s)
			return cfg_fail(c, "%s", ALLOW_EXPECTED);
		why = parse_allow_rule(s, &net->allow[i]);
		if (why)
			return cfg_fail(c, "%s, got %s", why, cfg_shown(buf, s));
		net->n_allow++;
		cfg_pop(c, old);
	}
	return 0;
}

static int parse_peers(struct ctx *c, json_t *v, struct sp_net *net)
{
	size_t i, n = json_array_size(v);
	json_t *e;

	if (!json_is_array(v))
		return cfg_fail(c, "expected a list of instance names");
	net->peers = calloc(n ? n : 1, sizeof *net->peers);
	if (!net->peers)
		return cfg_oom(c);
	json_array_foreach(v, i, e) {
		const char *s = sp_json_text(e);

		size_t old = cfg_push_index(c, i);
		if (!s || !sp_name_valid(s))
			return cfg_fail(c, "expected the name of an instance");
		for (size_t j = 0; j < net->n_peers; j++)
			if (strcmp(net->peers[j].name, s) == 0)
				return cfg_fail(c, "\"%s\" is listed twice", s);
		if (cfg_copy_string(c, &net->peers[net->n_peers].name, s) < 0)
			return -1;
		net->n_peers++;
		cfg_pop(c, old);
	}
	return 0;
}

int cfg_parse_net(struct ctx *c, json_t *v, struct sp_instance *inst)
{
	const char *s = sp_json_text(v), *key;
	struct sp_net *net = &inst->net;
	json_t *val;

	if (s && strcmp(s, "none") == 0)
		return 0;
	if (!json_is_object(v) || !json_object_get(v, "provider"))
		return cfg_fail(c, "expected \"none\" or {\"provider\": NAME}");
	net->allow_any = true;
	json_object_foreach(v, key, val) {
		size_t old = cfg_push_key(c, key);

		if (strcmp(key, "provider") == 0) {
			s = sp_json_text(val);
			if (!s || !sp_name_valid(s))
				return cfg_fail(c, "expected the name of an instance with \"provides\": [\"net\"]");
			if (cfg_copy_string(c, &net->provider, s) < 0)
				return -1;
		} else if (strcmp(key, "peers") == 0) {
			if (parse_peers(c, val, net) < 0)
				return -1;
		} else if (strcmp(key, "allow") == 0) {
			if (parse_allow(c, val, net) < 0)
				return -1;
		} else {
			return cfg_fail(c, "unknown key (expected \"provider\", \"peers\" or \"allow\")");
		}
		cfg_pop(c, old);
	}
	return 0;
}

/* The key path "instances.NAME[.KEY[.KEY2]]" for a check across instances. */
static void at(struct ctx *c, const char *name, const char *key, const char *key2)
{
	cfg_pop(c, 0);
	cfg_push_key(c, "instances");
	cfg_push_key(c, name);
	if (key)
		cfg_push_key(c, key);
	if (key2)
		cfg_push_key(c, key2);
}

static bool lists_peer(const struct sp_instance *inst, const char *name)
{
	for (size_t i = 0; i < inst->net.n_peers; i++)
		if (strcmp(inst->net.peers[i].name, name) == 0)
			return true;
	return false;
}

static int check_client(struct ctx *c, const struct sp_config *cfg, const struct sp_instance *inst)
{
	const struct sp_net *net = &inst->net;
	const struct sp_instance *p = sp_config_find(cfg, net->provider);

	at(c, inst->name, "net", "provider");
	if (!p)
		return cfg_fail(c, "no instance \"%s\" in this configuration", net->provider);
	if (p == inst)
		return cfg_fail(c, "an instance cannot be its own provider");
	if (!p->provides_net)
		return cfg_fail(c, "\"%s\" does not provide net (expected an instance with \"provides\": [\"net\"])",
				net->provider);
	at(c, inst->name, "net", NULL);
	if (inst->provides_net)
		return cfg_fail(c, "a provider cannot also be a client of another provider (not supported yet)");
	if (inst->isolation == SP_ISOLATION_VM)
		return cfg_fail(c, "network for VM instances is not supported yet (expected \"none\")");
	for (size_t i = 0; i < net->n_peers; i++) {
		const char *name = net->peers[i].name;
		const struct sp_instance *q = sp_config_find(cfg, name);

		at(c, inst->name, "net", "peers");
		cfg_push_index(c, i);
		if (!q)
			return cfg_fail(c, "no instance \"%s\" in this configuration", name);
		if (q == inst)
			return cfg_fail(c, "an instance is not its own peer");
		if (!q->net.provider || strcmp(q->net.provider, net->provider) != 0)
			return cfg_fail(c, "\"%s\" is not a client of \"%s\": peers share one provider", name,
					net->provider);
		if (!lists_peer(q, inst->name))
			return cfg_fail(c, "\"%s\" does not list \"%s\" in its net.peers: peers are declared on both",
					name, inst->name);
	}
	return 0;
}

/* Each provider's clients get MACs that do not collide (net/addr.h). */
static int assign_macs(struct ctx *c, struct sp_config *cfg, const struct sp_instance *provider)
{
	char **names = calloc(cfg->n_instances + 1, sizeof *names);
	uint8_t(*macs)[6] = calloc(cfg->n_instances + 1, sizeof *macs);
	size_t n = 0;
	int ret = -1;

	if (!names || !macs) {
		cfg_oom(c);
		goto out;
	}
	for (size_t i = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].net.provider && strcmp(cfg->instances[i].net.provider, provider->name) == 0)
			names[n++] = cfg->instances[i].name;
	if (sp_net_assign(names, n, macs) < 0) {
		at(c, provider->name, NULL, NULL);
		cfg_fail(c, "more clients than addresses in 100.64.0.0/16");
		goto out;
	}
	for (size_t i = 0, k = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].net.provider && strcmp(cfg->instances[i].net.provider, provider->name) == 0)
			memcpy(cfg->instances[i].net.mac, macs[k++], 6);
	ret = 0;
out:
	free(names);
	free(macs);
	return ret;
}

int cfg_check_net(struct ctx *c, struct sp_config *cfg)
{
	for (size_t i = 0; i < cfg->n_instances; i++) {
		const struct sp_instance *inst = &cfg->instances[i];

		if (inst->uplink != SP_UPLINK_NONE && !inst->provides_net) {
			at(c, inst->name, "uplink", NULL);
			return cfg_fail(c, "only for an instance with \"provides\": [\"net\"]");
		}
		if (inst->provides_net && inst->isolation == SP_ISOLATION_VM) {
			at(c, inst->name, "provides", NULL);
			return cfg_fail(c, "a VM instance cannot provide net yet (expected a container)");
		}
		if (inst->net.provider && check_client(c, cfg, inst) < 0)
			return -1;
	}
	for (size_t i = 0; i < cfg->n_instances; i++)
		if (cfg->instances[i].provides_net && assign_macs(c, cfg, &cfg->instances[i]) < 0)
			return -1;
	for (size_t i = 0; i < cfg->n_instances; i++) {
		struct sp_net *net = &cfg->instances[i].net;

		for (size_t k = 0; k < net->n_peers; k++)
			memcpy(net->peers[k].mac, sp_config_find(cfg, net->peers[k].name)->net.mac, 6);
	}
	cfg_pop(c, 0);
	return 0;
}
