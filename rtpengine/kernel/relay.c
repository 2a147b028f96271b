//go:build ignore

// SPDX-License-Identifier: (MIT OR GPL-2.0)
//
// earshot's in-kernel RTP relay: a tc (TCX ingress) program that forwards
// the RTP of relayed calls between their two legs without waking the
// process. One map entry per receiving leg says where its packets go and
// how their headers are rewritten; the rewrite is the userspace relay's
// (rtpengine/outstream.go): output = input + offset for sequence number and
// timestamp, the leg's own SSRC, earshot's address and port as source, the
// other leg's peer as destination. Anything the entry does not describe
// exactly — another source, another payload type, a new SSRC, a sequence
// or timestamp jump that would re-base the stream — passes to the socket
// untouched, and userspace decides (see kernel.go).
//
// Built with `make bpf` (clang -target bpf); the object is committed, so
// building earshot needs no clang.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

// TCX return codes (include/uapi/linux/bpf.h, Linux 6.6): NEXT lets the
// next program on the interface (another engine's, another tool's) see the
// packet, as it is now.
#define TCX_NEXT -1
#define TCX_REDIRECT 7

// Mirrors rtpengine/outstream.go.
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define TS_JUMP_SECONDS 4

#define ETH_LEN 14
#define IP_OFF ETH_LEN
#define UDP_OFF (ETH_LEN + 20)
#define RTP_OFF (UDP_OFF + 8)
#define RTP_HDR 12

#define IP_CSUM (IP_OFF + offsetof(struct iphdr, check))
#define IP_SRC (IP_OFF + offsetof(struct iphdr, saddr))
#define IP_DST (IP_OFF + offsetof(struct iphdr, daddr))
#define UDP_CSUM (UDP_OFF + offsetof(struct udphdr, check))
#define UDP_SPORT (UDP_OFF + offsetof(struct udphdr, source))
#define UDP_DPORT (UDP_OFF + offsetof(struct udphdr, dest))
#define RTP_SEQ (RTP_OFF + 2)
#define RTP_TS (RTP_OFF + 4)
#define RTP_SSRC (RTP_OFF + 8)

#define FLAG_LOCAL 1 // the destination is an address of this host
#define FLAG_TAP 2   // a copy of every packet forwarded goes to the taps ring
#define FLAG_DROP 4  // the peer's audio is dropped, not forwarded (a listener's)

// A tap record: what the receiving socket would have read, for the mixer
// (a listening supervisor hears a party whose stream the kernel relays).
// Mirrored in kernel.go.
#define TAP_MAX 332 // RTP bytes copied at most: 40 ms of G.711 and its header
struct tap {
	__u16 port; // earshot's receiving RTP port, network byte order
	__u16 len;  // RTP bytes in pkt
	__u8 pkt[TAP_MAX];
};

// The receiving leg: earshot's address and RTP port, network byte order.
struct key {
	__u32 addr;
	__u16 port;
	__u16 pad;
};

// One direction of a relayed call. Layout mirrored by entry in kernel.go.
struct entry {
	struct bpf_spin_lock lock; // guards the stream state below
	__u32 src_addr;            // the leg's latched peer: the only source forwarded
	__u32 out_addr;            // earshot's address on the other leg
	__u32 dst_addr;            // the other leg's peer
	__u16 src_port;
	__u16 out_port;
	__u16 dst_port;
	__u8 pt;    // the audio payload type; anything else goes to userspace
	__u8 flags; // FLAG_*
	__u32 ssrc; // the other leg's output SSRC
	__u32 rate; // RTP clock rate of pt
	// Stream state, host byte order, as outStream keeps it.
	__u32 in_ssrc;
	__u32 in_ts;
	__u32 ts_off;
	__u32 out_ts;
	__u16 in_seq;
	__u16 seq_off;
	__u16 out_seq;
	// Set at the first packet from the peer the program does not forward:
	// from then on every packet goes to userspace, in order, until
	// userspace takes the stream back (removes the entry).
	__u8 paused;
	__u8 pad;
	__u64 in_ns;  // bpf_ktime_get_ns of the newest input packet
	__u64 out_ns; // and of the newest output packet
	// Counters, read by userspace for metrics and the media timeout.
	__u64 packets;
	__u64 bytes; // UDP payload bytes, as the userspace relay counts
	__u64 fallbacks; // packets handed to userspace because no route was found
	__u64 tap_lost;  // forwarded packets the taps ring had no room for
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct key);
	__type(value, struct entry);
} legs SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 23); // 8 MiB: about 24,000 records
} taps SEC(".maps");

// tap copies the packet's RTP into the taps ring. It never wakes the
// reader, which drains the ring on its own clock (a few milliseconds: the
// mixer ticks every 20 ms): a wake-up per packet would cost the process
// about what reading the packet from the socket costs.
static __always_inline void tap(struct __sk_buff *skb, struct entry *e, __u16 port, __u32 n)
{
	if (n < RTP_HDR || n > TAP_MAX) {
		__sync_fetch_and_add(&e->tap_lost, 1);
		return;
	}
	struct tap *r = bpf_ringbuf_reserve(&taps, sizeof(*r), 0);
	if (!r) {
		__sync_fetch_and_add(&e->tap_lost, 1);
		return;
	}
	r->port = port;
	r->len = n;
	if (bpf_skb_load_bytes(skb, RTP_OFF, r->pkt, n) != 0) {
		bpf_ringbuf_discard(r, 0);
		__sync_fetch_and_add(&e->tap_lost, 1);
		return;
	}
	bpf_ringbuf_submit(r, BPF_RB_NO_WAKEUP);
}

static __always_inline int store(struct __sk_buff *skb, __u32 off, void *from, __u32 len)
{
	return bpf_skb_store_bytes(skb, off, from, len, 0);
}

SEC("tc")
int relay(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	if (data + RTP_OFF + RTP_HDR > end)
		return TCX_NEXT;
	struct ethhdr *eth = data;
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return TCX_NEXT;
	struct iphdr *ip = data + IP_OFF;
	// No IP options, no fragments: the forwarded packets are all of
	// that shape, and anything else is userspace's.
	if (ip->ihl != 5 || ip->protocol != IPPROTO_UDP || (ip->frag_off & bpf_htons(0x3fff)))
		return TCX_NEXT;
	struct udphdr *udp = data + UDP_OFF;
	struct key k = {.addr = ip->daddr, .port = udp->dest};
	struct entry *e = bpf_map_lookup_elem(&legs, &k);
	if (!e)
		return TCX_NEXT;
	if (ip->saddr != e->src_addr || udp->source != e->src_port)
		return TCX_NEXT; // userspace latches or drops it
	__u8 *rtp = data + RTP_OFF;
	__u32 udplen = bpf_ntohs(udp->len);
	int forward = (rtp[0] & 0xc0) == 0x80 && (rtp[1] & 0x7f) == e->pt && udplen >= 8 + RTP_HDR;
	if (e->flags & FLAG_DROP) {
		// A listening supervisor's audio: nobody hears it. Anything
		// else (its key presses) is userspace's.
		if (!forward)
			return TCX_NEXT;
		__u64 now = bpf_ktime_get_ns();
		bpf_spin_lock(&e->lock);
		e->in_ns = now;
		e->packets++;
		e->bytes += udplen - 8;
		bpf_spin_unlock(&e->lock);
		return TC_ACT_SHOT;
	}
	__u16 old_sport = udp->source, old_dport = udp->dest;
	__u32 old_saddr = ip->saddr, old_daddr = ip->daddr;
	__u16 seq_be = *(__u16 *)(rtp + 2);
	__u32 ts_be = *(__u32 *)(rtp + 4);
	__u32 ssrc_be = *(__u32 *)(rtp + 8);
	__u16 seq = bpf_ntohs(seq_be);
	__u32 ts = bpf_ntohl(ts_be);
	// Where the packet goes is fixed for the entry's life (userspace
	// replaces an entry whole), so it is read without the lock.
	__u32 new_saddr = e->out_addr, new_daddr = e->dst_addr;
	__u16 new_sport = e->out_port, new_dport = e->dst_port;
	__u32 new_ssrc = bpf_htonl(e->ssrc);
	__u8 flags = e->flags;

	__u32 ifindex = 0;
	struct bpf_fib_lookup fib = {};
	if (!(flags & FLAG_LOCAL)) {
		fib.family = 2; // AF_INET
		fib.l4_protocol = IPPROTO_UDP;
		fib.tot_len = bpf_ntohs(ip->tot_len);
		fib.ipv4_src = new_saddr;
		fib.ipv4_dst = new_daddr;
		fib.sport = new_sport;
		fib.dport = new_dport;
		fib.ifindex = skb->ingress_ifindex;
		if (forward && bpf_fib_lookup(skb, &fib, sizeof(fib), 0) != BPF_FIB_LKUP_RET_SUCCESS) {
			// Userspace relays it and keeps the stream (kernel.go).
			__sync_fetch_and_add(&e->fallbacks, 1);
			forward = 0;
		}
		ifindex = fib.ifindex;
	}
	__u64 now = bpf_ktime_get_ns();

	bpf_spin_lock(&e->lock);
	// Not a packet to forward: a telephone-event, a new SSRC (userspace
	// re-bases), a sequence or timestamp jump, no route. It and every
	// packet after it go to userspace.
	if (e->paused || !forward || bpf_ntohl(ssrc_be) != e->in_ssrc)
		goto pause;
	__s16 d = (__s16)(seq - e->in_seq);
	if (d > MAX_DROPOUT || d < -MAX_MISORDER)
		goto pause;
	if (d > 0) {
		__s64 expected = (__s64)((now - e->in_ns) * e->rate / 1000000000ULL);
		__s64 drift = (__s64)(__s32)(ts - e->in_ts) - expected;
		__s64 limit = (__s64)TS_JUMP_SECONDS * e->rate;
		if (drift > limit || drift < -limit)
			goto pause;
		e->in_seq = seq;
		e->in_ts = ts;
		e->in_ns = now;
	}
	__u16 oseq = seq + e->seq_off;
	__u32 ots = ts + e->ts_off;
	if ((__s16)(oseq - e->out_seq) > 0) {
		e->out_seq = oseq;
		e->out_ts = ots;
		e->out_ns = now;
	}
	e->packets++;
	e->bytes += udplen - 8;
	bpf_spin_unlock(&e->lock);
	goto rewrite;
pause:
	e->paused = 1;
	bpf_spin_unlock(&e->lock);
	return TCX_NEXT;

rewrite:;

	if (flags & FLAG_TAP)
		tap(skb, e, old_dport, udplen - 8);
	__u16 oseq_be = bpf_htons(oseq);
	__u32 ots_be = bpf_htonl(ots);
	const __u64 l4 = BPF_F_MARK_MANGLED_0;
	bpf_l4_csum_replace(skb, UDP_CSUM, old_saddr, new_saddr, l4 | BPF_F_PSEUDO_HDR | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM, old_daddr, new_daddr, l4 | BPF_F_PSEUDO_HDR | 4);
	bpf_l3_csum_replace(skb, IP_CSUM, old_saddr, new_saddr, 4);
	bpf_l3_csum_replace(skb, IP_CSUM, old_daddr, new_daddr, 4);
	store(skb, IP_SRC, &new_saddr, 4);
	store(skb, IP_DST, &new_daddr, 4);
	bpf_l4_csum_replace(skb, UDP_CSUM, old_sport, new_sport, l4 | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM, old_dport, new_dport, l4 | 2);
	store(skb, UDP_SPORT, &new_sport, 2);
	store(skb, UDP_DPORT, &new_dport, 2);
	bpf_l4_csum_replace(skb, UDP_CSUM, seq_be, oseq_be, l4 | 2);
	bpf_l4_csum_replace(skb, UDP_CSUM, ts_be, ots_be, l4 | 4);
	bpf_l4_csum_replace(skb, UDP_CSUM, ssrc_be, new_ssrc, l4 | 4);
	store(skb, RTP_SEQ, &oseq_be, 2);
	store(skb, RTP_TS, &ots_be, 4);
	store(skb, RTP_SSRC, &new_ssrc, 4);

	if (flags & FLAG_LOCAL)
		return TCX_NEXT; // the stack delivers it to the local peer
	data = (void *)(long)skb->data;
	end = (void *)(long)skb->data_end;
	if (data + ETH_LEN > end)
		return TC_ACT_SHOT;
	eth = data;
	__builtin_memcpy(eth->h_dest, fib.dmac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, fib.smac, ETH_ALEN);
	return bpf_redirect(ifindex, 0);
}

char LICENSE[] SEC("license") = "Dual MIT/GPL";
