// The page's one way to make an element from text: the text goes in as textContent, never
// as HTML, so nothing a user wrote can become markup.

/** A `tag` element with `className` (if any) and `text` (if given) as its text. */
export function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}
