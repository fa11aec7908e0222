using Microsoft.Extensions.DependencyInjection;
using Twin.Factories;

namespace Twin.Grains.Infrastructure;

/// <summary>The state of a twin that lists itself in its factory's directory.</summary>
public interface IRegisteredState
{
    /// <summary>The factory directory lists the twin.</summary>
    bool Registered { get; set; }
}

/// <summary>The one way a twin lists itself in its factory's directory.</summary>
internal static class Registration
{
    /// <summary>
    /// Lists the twin in its factory's directory the first time it is called for; call it before
    /// anything changes in memory, so that a failed call leaves nothing half-applied and the retry
    /// starts clean. The flag is saved with the twin's next write.
    /// </summary>
    /// <param name="id">The id to list; the twin's own id when null.</param>
    public static async ValueTask RegisterOnceAsync(this Grain grain, IRegisteredState state, TwinKind kind, string? id = null)
    {
        if (state.Registered)
        {
            return;
        }

        var (factory, own) = TwinKey.Split(grain.GetPrimaryKeyString());
        await grain.GrainContext.ActivationServices.GetRequiredService<IGrainFactory>().GetGrain<IFactoryGrain>(factory).RegisterAsync(kind, id ?? own);
        state.Registered = true;
    }
}
