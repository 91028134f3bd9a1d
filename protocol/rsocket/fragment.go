package rsocket

import "fmt"

// Assembler joins fragmented frames (FlagFollows). A fragmented request is
// a REQUEST_* frame with FlagFollows followed by PAYLOAD frames of the same
// stream, all but the last with FlagFollows; a fragmented payload is a run
// of PAYLOAD frames. Fragments are copied, so the caller may reuse the
// buffers it decoded them from. The zero value is ready to use.
type Assembler struct {
	// Max bounds the metadata plus data of a joined frame and of all
	// frames being joined together (MaxFrameSize when 0).
	Max int

	partial map[uint32]*Frame
	size    int
}

// maxPartialStreams bounds how many streams may be mid-fragment at once.
const maxPartialStreams = 16

// Add takes the next frame. It returns the frame and true when f is not a
// fragment or completes one (then with its fragments joined), and false
// while more fragments are needed. A frame other than PAYLOAD on a stream
// that is mid-fragment (CANCEL, ERROR, …) drops the fragments collected so
// far and is returned as it is.
func (a *Assembler) Add(f Frame) (Frame, bool, error) {
	limit := a.Max
	if limit <= 0 {
		limit = MaxFrameSize
	}
	p := a.partial[f.StreamID]
	if p != nil && f.Type != TypePayload {
		a.drop(f.StreamID)
		p = nil
	}
	if p == nil {
		if !fragmentable(f.Type) || f.Flags&FlagFollows == 0 {
			return f, true, nil // 0x80 means something else on other types
		}
		if len(a.partial) >= maxPartialStreams {
			return Frame{}, false, fmt.Errorf("rsocket: more than %d streams sending fragments at once", maxPartialStreams)
		}
		if a.partial == nil {
			a.partial = make(map[uint32]*Frame)
		}
		p = &Frame{StreamID: f.StreamID, Type: f.Type, Flags: f.Flags &^ FlagFollows, N: f.N, ExtType: f.ExtType}
		a.partial[f.StreamID] = p
	}
	if a.size+len(f.Metadata)+len(f.Data) > limit {
		a.drop(f.StreamID)
		return Frame{}, false, frameErr(p.Type, "fragments add up to more than %d bytes", limit)
	}
	a.size += len(f.Metadata) + len(f.Data)
	if f.Metadata != nil {
		p.Metadata = append(p.Metadata, f.Metadata...)
		if p.Metadata == nil {
			p.Metadata = []byte{}
		}
		p.Flags |= FlagMetadata
	}
	p.Data = append(p.Data, f.Data...)
	if f.Flags&FlagFollows != 0 {
		return Frame{}, false, nil
	}
	if p.Type == TypePayload {
		p.Flags = p.Flags&^(FlagComplete|FlagNext) | f.Flags&(FlagComplete|FlagNext)
	}
	a.drop(f.StreamID)
	return *p, true, nil
}

func (a *Assembler) drop(id uint32) {
	if p := a.partial[id]; p != nil {
		a.size -= len(p.Metadata) + len(p.Data)
		delete(a.partial, id)
	}
}

// fragmentable reports whether FlagFollows exists on frames of type t.
func fragmentable(t FrameType) bool {
	switch t {
	case TypeRequestResponse, TypeRequestFNF, TypeRequestStream, TypeRequestChannel, TypePayload:
		return true
	}
	return false
}
