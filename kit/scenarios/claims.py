"""The lesson's claims (shared/docs/lesson-claims.md), as the index report quotes them."""

CLAIMS = {
    "C1": "TCP is two one-way streams; one direction can close while the other still "
          "carries data (half-close).",
    "C2": "close() decrements the socket's reference count; only at zero is the socket "
          "released and both directions closed.",
    "C3": "After close(): reads fail; the kernel sends what is left, then a FIN; later "
          "writes fail.",
    "C4": "A peer that keeps sending to a closed socket receives an RST.",
    "C5": "close() cannot close one direction only; shutdown() can.",
    "C6": "shutdown(SHUT_RD): reads return EOF; data arriving later is ACKed and dropped.",
    "C7": "shutdown(SHUT_WR): half-close whatever the reference count; buffered data is "
          "sent, then a FIN.",
    "C8": "SHUT_RDWR = SHUT_RD then SHUT_WR.",
    "C9a": "close() releases the socket's resources; shutdown() does not.",
    "C9b": "With a shared socket, close() leaves it usable for the other holders; "
           "shutdown() affects every holder.",
    "C9c": "close() may send no FIN (reference count > 0); shutdown() always sends one.",
    "C10": "Experiment 1 (close): the server gets both messages; its reply draws an RST; "
           "its next write raises SIGPIPE and it dies; the client shows no reply.",
    "C11": "Experiment 2 (shutdown): the client prints both replies; the server reads EOF "
           "and exits, sending its FIN; the client reads EOF; both end normally.",
    "C12": "A server that ends with exit(0) and no close() still sends a FIN.",
    "C13": "SIGPIPE ignored: write returns EPIPE; default: the process is killed; a "
           "handler: it runs, then write returns EPIPE.",
    "C14": "The lesson registers its SIGPIPE handler on SIGINT by mistake; on SIGPIPE "
           "it runs.",
    "C15": "Timing decides what the client sees: a reply that arrived before close() "
           "is shown.",
    "C16": "The server sleeps 5 s before each reply; the client reads stdin and the "
           "socket with select().",
    "C17": "Not in the lesson: the error an RST leaves depends on the state it arrives in. "
           "In CLOSE-WAIT the next write fails with EPIPE and raises SIGPIPE; in "
           "ESTABLISHED it fails with ECONNRESET and raises none, and only a later write "
           "gets EPIPE and SIGPIPE.",
    "C18": "Not in the lesson: after an RST, read() returns the data already received, "
           "then the error once, then 0.",
    "C19": "Not in the lesson (its C4 speaks of data): a FIN reaching a closed socket is "
           "acknowledged, not reset; the orphan goes to TIME-WAIT.",
    "C20": "Not in the lesson: an orphan in FIN-WAIT-2 lives tcp_fin_timeout (or "
           "TCP_LINGER2); data arriving later finds no socket and draws an RST from the "
           "kernel.",
    "C21": "Not in the lesson: with SO_LINGER {1, N}, close() waits for the peer to "
           "acknowledge everything, its FIN included, and returns at the latest after N s; a "
           "process that exits holding the socket never waits.",
    "evidence": "(not a claim: the evidence itself is complete)",
}
