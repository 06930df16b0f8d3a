namespace RecurrentGemma.Server.Generation;

/// <summary>
/// The bounded queue: at most <c>capacity</c> sequences (choices; a /tokenize call counts one) admitted at once,
/// running, waiting for memory or waiting for a slot in the scheduler. A request takes its ticket before any work is
/// done for it (tokenizing, renting memory), and one that does not fit is refused at once (429) instead of queueing
/// without bound.
/// </summary>
public sealed class Admission(int capacity)
{
    int _inFlight;

    public int InFlight => Volatile.Read(ref _inFlight);
    public int Capacity => capacity;

    /// <summary>A ticket for <paramref name="sequences"/> (given back when disposed), or null when the queue is full.</summary>
    Ticket? TryEnter(int sequences)
    {
        while (true)
        {
            int now = Volatile.Read(ref _inFlight);
            if (now + sequences > capacity) return null;
            if (Interlocked.CompareExchange(ref _inFlight, now + sequences, now) == now) return new Ticket(this, sequences);
        }
    }

    /// <summary>A ticket for <paramref name="sequences"/>, or the 429 (with Retry-After) that a full queue answers.</summary>
    public Ticket Enter(int sequences) => TryEnter(sequences)
        ?? throw new Requests.ApiException(429, $"the server is at capacity ({capacity} sequences running or queued); retry shortly", code: "queue_full") { RetryAfterSeconds = 1 };

    /// <summary>An admitted request's place; disposing it (once, however often it is called) frees the place.</summary>
    public sealed class Ticket(Admission owner, int sequences) : IDisposable
    {
        int _left;

        public int Sequences => sequences;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0) Interlocked.Add(ref owner._inFlight, -sequences);
        }
    }
}
