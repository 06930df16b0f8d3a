namespace RecurrentGemma.Core;

/// <summary>Base of every error the engine reports about user input (config, checkpoint, token ids, arguments).</summary>
public class RecurrentGemmaException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>config.json is missing, unreadable, or describes an impossible model. The message names the key and value.</summary>
public sealed class ModelConfigException(string message, Exception? inner = null) : RecurrentGemmaException(message, inner);

/// <summary>A safetensors file or checkpoint directory is malformed, truncated, or does not match the config. The message names the file and tensor.</summary>
public sealed class CheckpointException(string message, Exception? inner = null) : RecurrentGemmaException(message, inner);

/// <summary>tokenizer.model is missing or malformed, does not fit the model, or text cannot be tokenized. The message names the file.</summary>
public sealed class TokenizerException(string message, Exception? inner = null) : RecurrentGemmaException(message, inner);

/// <summary>A state snapshot is missing, damaged, of another version, or saved for another model shape.</summary>
public sealed class SnapshotException(string message, Exception? inner = null) : RecurrentGemmaException(message, inner);

/// <summary>
/// The engine failed while running a request (an internal error, not the request's input). Only the requests it was
/// working on fail; the scheduler goes on serving the others. A session whose state it was advancing must be reset.
/// </summary>
public sealed class EngineFaultException(string message, Exception? inner = null) : RecurrentGemmaException(message, inner);
