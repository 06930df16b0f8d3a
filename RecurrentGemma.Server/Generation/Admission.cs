namespace RecurrentGemma.Server.Generation;

/// <summary>
/// The bounded queue: at most <c>capacity</c> sequences (choices) admitted at once, running or waiting for a slot in
/// the scheduler. A request that does not fit is refused at once (429) instead of queueing without bound.
/// </summary>
public sealed class Admission(int capacity)
{
    int _inFlight;

    public int InFlight => Volatile.Read(ref _inFlight);
    public int Capacity => capacity;

    public bool TryEnter(int sequences)
    {
        while (true)
        {
            int now = Volatile.Read(ref _inFlight);
            if (now + sequences > capacity) return false;
            if (Interlocked.CompareExchange(ref _inFlight, now + sequences, now) == now) return true;
        }
    }

    public void Exit(int sequences) => Interlocked.Add(ref _inFlight, -sequences);
}
