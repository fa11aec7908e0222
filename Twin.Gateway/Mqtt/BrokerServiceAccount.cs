using System.Security.Cryptography;
using Microsoft.Extensions.Options;

namespace Twin.Gateway.Mqtt;

/// <summary>
/// The embedded broker's account for the gateway itself: configured (<c>Twin:Broker:ServiceUsername</c>
/// / <c>ServicePassword</c>), or with a random password made at start, known only inside this process.
/// </summary>
internal sealed class BrokerServiceAccount(IOptions<BrokerOptions> options)
{
    public string Username { get; } = options.Value.ServiceUsername;

    public string Password { get; } = string.IsNullOrEmpty(options.Value.ServicePassword)
        ? Convert.ToHexString(RandomNumberGenerator.GetBytes(24))
        : options.Value.ServicePassword;
}
