package extsort

import "io"

// merger merges sorted sources with a binary min-heap of their current rows, ordered by (time, line).
type merger struct {
	srcs []Source
	rows []Row
	heap []int // indices of sources with a current row
	top  int   // source whose row was returned last, advanced on the next call; -1 before the first
}

func newMerger(srcs []Source) (*merger, error) {
	m := &merger{srcs: srcs, rows: make([]Row, len(srcs)), top: -1}
	for i, src := range srcs {
		err := src.Next(&m.rows[i])
		if err == io.EOF {
			continue
		}
		if err != nil {
			return nil, err
		}
		m.heap = append(m.heap, i)
	}
	for i := len(m.heap)/2 - 1; i >= 0; i-- {
		m.down(i)
	}
	return m, nil
}

func (m *merger) less(a, b int) bool {
	ra, rb := &m.rows[a], &m.rows[b]
	if ra.In.Time != rb.In.Time {
		return ra.In.Time < rb.In.Time
	}
	return ra.Line < rb.Line
}

func (m *merger) Next(r *Row) error {
	if m.top >= 0 {
		err := m.srcs[m.top].Next(&m.rows[m.top])
		switch {
		case err == io.EOF:
			last := len(m.heap) - 1
			m.heap[0] = m.heap[last]
			m.heap = m.heap[:last]
		case err != nil:
			return err
		}
		if len(m.heap) > 0 {
			m.down(0)
		}
	}
	if len(m.heap) == 0 {
		m.top = -1
		return io.EOF
	}
	m.top = m.heap[0]
	*r = m.rows[m.top]
	return nil
}

func (m *merger) down(i int) {
	h := m.heap
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		j := l
		if r := l + 1; r < len(h) && m.less(h[r], h[l]) {
			j = r
		}
		if !m.less(h[j], h[i]) {
			return
		}
		h[i], h[j] = h[j], h[i]
		i = j
	}
}
