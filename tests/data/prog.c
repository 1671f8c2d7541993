/* Compiled by gcc under LD_PRELOAD, then run under it too. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct node {
  struct node* next;
  long value;
};

int main(void) {
  struct node* head = NULL;
  for (long i = 0; i < 100000; i++) {
    struct node* n = malloc(sizeof *n);
    n->value = i;
    n->next = head;
    head = n;
  }
  long sum = 0;
  while (head != NULL) {
    struct node* n = head;
    sum += n->value;
    head = n->next;
    free(n);
  }
  char* s = strdup("hakmem");
  printf("sum=%ld %s\n", sum, s);
  free(s);
  return 0;
}
