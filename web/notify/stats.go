package notify

import "sync"

// Stats counts the attempts this process recorded since it started, by
// channel (db.ChannelEmail, db.ChannelWebhook): what /metrics exports as
// keyward_notifications_delivered_total and _failed_total. They are the
// process's own, like every Prometheus counter: a scrape of each instance
// and a sum over them gives the installation's.
type Stats struct {
	Delivered map[string]int64
	Failed    map[string]int64
}

// stats is the Service's running count; a mutex, not atomics, because it
// is touched once per delivery attempt, which is far from hot.
type stats struct {
	mu                sync.Mutex
	delivered, failed map[string]int64
}

func (s *stats) add(channel string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.delivered == nil {
		s.delivered, s.failed = map[string]int64{}, map[string]int64{}
	}
	if ok {
		s.delivered[channel]++
	} else {
		s.failed[channel]++
	}
}

// Stats returns a copy of the attempts recorded so far.
func (s *Service) Stats() Stats {
	s.stats.mu.Lock()
	defer s.stats.mu.Unlock()
	out := Stats{Delivered: map[string]int64{}, Failed: map[string]int64{}}
	for k, v := range s.stats.delivered {
		out.Delivered[k] = v
	}
	for k, v := range s.stats.failed {
		out.Failed[k] = v
	}
	return out
}
