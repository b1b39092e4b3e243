package db

// ChallengeSudo is the kind of auth challenge that keeps a dangerous form
// while its person re-authenticates ("sudo mode"): what they submitted,
// bound to their session, taken once when the form resumes. It is a
// challenge, not session data, so that taking it is one atomic DELETE:
// two tabs resuming at once cannot both submit it.
const ChallengeSudo = "sudo"
