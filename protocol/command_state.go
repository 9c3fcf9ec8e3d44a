package protocol

// CommandState is where the gateway stands with one command (docs/protocol.md
// "Command lifecycle"). It is gateway-side bookkeeping, never on the wire;
// it lives here so the gateway, tools and docs use the same names.
type CommandState string

// Gateway-side command states. queued → sent → acknowledged → succeeded |
// failed | rejected; expired and timed_out can end a command in any
// non-terminal state.
const (
	CommandQueued       CommandState = "queued"       // stored, not yet published (modem offline or another command in flight)
	CommandSent         CommandState = "sent"         // published on cmd/req/{id} at QoS 1
	CommandAcknowledged CommandState = "acknowledged" // the modem answered accepted or in_progress
	CommandSucceeded    CommandState = "succeeded"    // the modem answered succeeded
	CommandFailed       CommandState = "failed"       // the modem answered failed
	CommandRejected     CommandState = "rejected"     // the modem refused it (unknown, bad args, unsupported, busy)
	CommandExpired      CommandState = "expired"      // exp passed before it was sent, or the modem answered expired
	CommandTimedOut     CommandState = "timed_out"    // no acknowledgement or no terminal status in time
)

// Terminal reports whether s ends the command.
func (s CommandState) Terminal() bool {
	switch s {
	case CommandSucceeded, CommandFailed, CommandRejected, CommandExpired, CommandTimedOut:
		return true
	}
	return false
}

// StateFor maps a result status the modem reported to the gateway state.
func StateFor(s Status) CommandState {
	switch s {
	case StatusAccepted, StatusInProgress:
		return CommandAcknowledged
	case StatusSucceeded:
		return CommandSucceeded
	case StatusFailed:
		return CommandFailed
	case StatusRejected:
		return CommandRejected
	case StatusExpired:
		return CommandExpired
	}
	return ""
}
