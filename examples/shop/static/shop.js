// Embeds the assistant: the shop's backend says where it runs and signs a short-lived token for the signed-in
// customer; Chainlit's copilot script signs in with that token, so the customer never types a password.
async function mountAssistant() {
  const response = await fetch("/widget-config", { cache: "no-store" });
  const { chainlitServer, accessToken } = await response.json();
  const script = document.createElement("script");
  script.src = `${chainlitServer}/copilot/index.js`;
  script.onload = () => window.mountChainlitWidget({ chainlitServer, accessToken });
  document.body.appendChild(script);
}

mountAssistant();
