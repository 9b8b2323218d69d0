// The wipe view: one frame, the original left of a divider and the enhanced right of it.
// The divider follows a pointer dragged across the picture and the labelled slider
// (keyboard: arrow keys), which stay in step.

export function bindWipe(stage, slider) {
  const set = (percent) => {
    const value = Math.min(100, Math.max(0, percent));
    stage.style.setProperty("--wipe", `${value}%`);
    slider.value = String(Math.round(value));
  };
  slider.addEventListener("input", () => set(Number(slider.value)));
  const follow = (event) => {
    const box = stage.getBoundingClientRect();
    set(((event.clientX - box.left) / box.width) * 100);
  };
  stage.addEventListener("pointerdown", (event) => {
    if (!stage.classList.contains("wipe")) return;
    stage.setPointerCapture(event.pointerId);
    follow(event);
    const move = (e) => follow(e);
    const up = () => {
      stage.removeEventListener("pointermove", move);
      stage.removeEventListener("pointerup", up);
    };
    stage.addEventListener("pointermove", move);
    stage.addEventListener("pointerup", up);
  });
}
