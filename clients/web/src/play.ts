/**
 * The page: wires the buttons to a Game and shows its phase. Served by brokerlist under /play/,
 * so brokerlist's root is this page's parent; `?transport=ws` or `wss` picks the WebSocket scheme.
 */
import { Game, type Phase, pickTransport, deviceId, describe } from "./game";

/** The controls each phase offers; the first one listed takes the focus. */
const CONTROLS: Record<Phase, readonly string[]> = {
  out: ["guest"],
  connecting: [],
  lobby: ["queue"],
  queued: ["cancel"],
  matched: ["shoot"],
  signal: ["shoot"],
  shot: [],
  result: ["queue"],
};
const BUTTONS = ["queue", "cancel", "shoot"];

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) {
    throw new Error(`the page has no #${id}`);
  }
  return found as T;
}

function show(phase: Phase, status: string, detail: string): void {
  document.body.dataset.phase = phase;
  element("status").textContent = status;
  element("detail").textContent = detail;
  element("login").hidden = phase !== "out";
  const controls = CONTROLS[phase];
  for (const id of BUTTONS) {
    element("controls").querySelector<HTMLButtonElement>(`#${id}`)!.hidden = !controls.includes(id);
  }
  if (phase === "out") {
    element("connection").textContent = "";
  }
  if (controls.length > 0) {
    element(controls[0]!).focus(); // Space or Enter plays: the signal needs no mouse
  }
}

async function start(): Promise<void> {
  const brokerlistUrl = new URL("..", window.location.href).toString();
  const wanted = new URLSearchParams(window.location.search).get("transport");
  let transport: string;
  try {
    transport = await pickTransport(brokerlistUrl, wanted);
  } catch (error) {
    show("connecting", "The platform cannot be reached.", describe(error, wanted ?? "") + " Reload to try again.");
    return;
  }
  const game = new Game(brokerlistUrl, transport, {
    show,
    connected: (text) => {
      element("connection").textContent = text;
    },
  });
  const credentials = (): [string, string] => [
    element<HTMLInputElement>("name").value,
    element<HTMLInputElement>("password").value,
  ];
  element("guest").addEventListener("click", () => {
    void game.enter((client) => client.guestLogin(deviceId(window.localStorage)));
  });
  element<HTMLFormElement>("account").addEventListener("submit", (event) => {
    event.preventDefault();
    void game.enter((client) => client.login(...credentials()));
  });
  element("create").addEventListener("click", () => {
    if (element<HTMLFormElement>("account").reportValidity()) {
      void game.enter((client) => client.register(...credentials()));
    }
  });
  element("queue").addEventListener("click", () => void game.queue());
  element("cancel").addEventListener("click", () => void game.cancel());
  element("shoot").addEventListener("click", () => void game.shoot());
  show("out", "Not logged in.", `Brokers over ${transport}.`);
}

void start();
